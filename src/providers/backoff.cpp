#include "providers/backoff.h"

#include <algorithm>

namespace ia::providers {

std::chrono::milliseconds backoff_delay(const BackoffPolicy& p, int attempt,
                                        const std::optional<std::chrono::milliseconds>& hint, std::mt19937_64& rng) {
  if (hint && *hint <= p.max_hint) return std::max(*hint, std::chrono::milliseconds(0));
  const int shift = std::clamp(attempt, 0, 30);
  const int64_t ceiling = std::min<int64_t>(p.cap.count(), p.base.count() << shift);
  if (ceiling <= 0) return std::chrono::milliseconds(0);
  std::uniform_int_distribution<int64_t> jitter(0, ceiling);
  return std::chrono::milliseconds(jitter(rng));
}

}  // namespace ia::providers
