#pragma once
// How long to wait before retry n: the server's hint when it gave one within
// the cap (Retry-After and its kin, retry_hints.h), else exponential backoff
// with full jitter — uniform in [0, min(cap, base·2^n)] (AWS's "full jitter",
// which spreads a crowd of clients best).
#include <chrono>
#include <optional>
#include <random>

namespace ia::providers {

struct BackoffPolicy {
  std::chrono::milliseconds base{500}, cap{8'000};
  std::chrono::milliseconds max_hint{60'000};  // a longer hint is not waited for: backoff instead (SDKs do so)
};

// `attempt` counts from 0 (the wait before the first retry).
std::chrono::milliseconds backoff_delay(const BackoffPolicy& p, int attempt,
                                        const std::optional<std::chrono::milliseconds>& hint, std::mt19937_64& rng);

}  // namespace ia::providers
