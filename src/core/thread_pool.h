#pragma once
// The process-wide worker pool. It is OpenMP's (libgomp) on purpose: oneDNN
// as Debian ships it runs on OpenMP, and a second pool of our own would spin
// against it and oversubscribe the cores.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace ia {

// Most worker threads set_num_threads accepts (machines have at most a few hundred cores).
inline constexpr int kMaxThreads = 1024;

// Number of worker threads used by every parallel region (ours and oneDNN's).
int num_threads();
// n <= 0 means the default (default_num_threads); InvalidArgument above kMaxThreads. A warning
// (one line) when n is more than available_cpus(): the extra threads only wait for a core.
void set_num_threads(int n);
// min(physical cores, CPUs in the affinity mask, the cgroup v2 CPU quota, OMP_NUM_THREADS when
// set): a thread per core the process may actually run on, as a container's --cpus limits it.
int default_num_threads();
// The CPUs this process may run on at once: the affinity mask, clamped by the cgroup v2 quota.
int available_cpus();

// The CPU limit in a cgroup v2 cpu.max file's contents, "QUOTA PERIOD": ceil(QUOTA / PERIOD),
// at least 1; 0 for no limit ("max ..."), and for contents it cannot parse.
int cgroup_cpu_max_limit(std::string_view cpu_max);
// The cgroup v2 path in /proc/self/cgroup's contents (the "0::PATH" line); "" when there is none
// (cgroup v1 only).
std::string cgroup_v2_path(std::string_view proc_self_cgroup);
// The tightest cpu.max limit over the process's cgroup and its ancestors under `root`
// (/sys/fs/cgroup), PATH read from `proc_self_cgroup` (/proc/self/cgroup); 0 when none applies.
int cgroup_cpu_limit(const std::string& root = "/sys/fs/cgroup",
                     const std::string& proc_self_cgroup = "/proc/self/cgroup");

// Splits [0, n) into contiguous chunks of at least `grain` items and calls
// fn(begin, end) for each chunk, in parallel. Runs inline when small.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// As parallel_for, but threads take contiguous chunks from a shared counter,
// each a share of what is left (guided self-scheduling), in multiples of
// `unit` items: threads that run slower (a farther memory channel, a core
// shared with another task) take less, and all finish within one small chunk of
// each other. For memory-bound loops, where a static split waits for the
// slowest thread at the closing barrier.
void parallel_for_balanced(int64_t n, int64_t unit, const std::function<void(int64_t, int64_t)>& fn);

// Calls fn(i) for every i in [0, n), threads claiming one task at a time in index
// order from a shared counter: for tasks of unequal cost, listed largest first.
void parallel_tasks(int64_t n, const std::function<void(int64_t)>& fn);

}  // namespace ia
