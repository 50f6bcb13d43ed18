#pragma once
// The process's open-file limit (RLIMIT_NOFILE). A server holding a thousand connections needs
// more descriptors than the soft limit many systems start processes with (1024), while their hard
// limit allows far more: as Go's runtime and nginx's worker_rlimit_nofile do, `serve` raises the
// soft limit to the hard one when the connections it admits could need more than it has.
#include <cstdint>

namespace ia {

struct OpenFileLimit {
  uint64_t before = 0;  // the soft limit found
  uint64_t now = 0;     // the soft limit after the call
  uint64_t hard = 0;
  bool raised() const { return now > before; }
  bool enough(uint64_t wanted) const { return now >= wanted; }
};

// When the soft limit is below `wanted`, raises it to the hard limit (RLIM_INFINITY counts as
// 1 << 20, the kernel's default nr_open); otherwise leaves it. Never lowers it.
OpenFileLimit raise_open_file_limit(uint64_t wanted);

}  // namespace ia
