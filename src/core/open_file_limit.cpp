#include "core/open_file_limit.h"

#include <sys/resource.h>

#include <algorithm>

namespace ia {

OpenFileLimit raise_open_file_limit(uint64_t wanted) {
  constexpr uint64_t kUnlimited = uint64_t{1} << 20;  // fs.nr_open's default: setrlimit refuses more
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) != 0) return {};
  auto value = [&](rlim_t v) { return v == RLIM_INFINITY ? kUnlimited : static_cast<uint64_t>(v); };
  OpenFileLimit r{value(l.rlim_cur), value(l.rlim_cur), value(l.rlim_max)};
  if (r.before >= wanted || r.hard <= r.before) return r;
  rlimit raised = l;
  raised.rlim_cur = l.rlim_max == RLIM_INFINITY ? static_cast<rlim_t>(kUnlimited) : l.rlim_max;
  // A hard limit above fs.nr_open is refused: fall back to what was wanted.
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    raised.rlim_cur = static_cast<rlim_t>(std::min(wanted, r.hard));
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) return r;
  }
  r.now = static_cast<uint64_t>(raised.rlim_cur);
  return r;
}

}  // namespace ia
