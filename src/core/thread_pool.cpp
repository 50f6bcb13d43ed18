#include "core/thread_pool.h"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "core/error.h"
#include "core/logging.h"

namespace ia {

namespace {
std::atomic<int> g_threads{0};

// Physical cores: distinct (physical id, core id) pairs in /proc/cpuinfo.
int physical_cores() {
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<int, int>> cores;
  std::string line;
  int phys = 0;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    int value = std::atoi(line.c_str() + colon + 1);
    if (key == "physical id") phys = value;
    if (key == "core id") cores.insert({phys, value});
  }
  return cores.empty() ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))
                       : static_cast<int>(cores.size());
}

// CPUs in the affinity mask (taskset, a cgroup cpuset).
int affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool parse_u64(std::string_view s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

int cgroup_cpu_max_limit(std::string_view cpu_max) {
  while (!cpu_max.empty() && (cpu_max.back() == '\n' || cpu_max.back() == ' ')) cpu_max.remove_suffix(1);
  const size_t space = cpu_max.find(' ');
  const std::string_view quota = cpu_max.substr(0, space);
  // The period is optional on write (default 100000 us) and always present on read.
  const std::string_view period = space == std::string_view::npos ? "100000" : cpu_max.substr(space + 1);
  uint64_t q = 0, p = 0;
  if (quota == "max" || !parse_u64(quota, q) || !parse_u64(period, p) || q == 0 || p == 0) return 0;
  const uint64_t cpus = (q + p - 1) / p;
  return static_cast<int>(std::min<uint64_t>(cpus, kMaxThreads));
}

std::string cgroup_v2_path(std::string_view proc_self_cgroup) {
  while (!proc_self_cgroup.empty()) {
    const size_t nl = proc_self_cgroup.find('\n');
    std::string_view line = proc_self_cgroup.substr(0, nl);
    if (line.substr(0, 3) == "0::") return std::string(line.substr(3));
    if (nl == std::string_view::npos) break;
    proc_self_cgroup.remove_prefix(nl + 1);
  }
  return {};
}

int cgroup_cpu_limit(const std::string& root, const std::string& proc_self_cgroup) {
  // In a container (a cgroup namespace) the process's cgroup is the root and its own cpu.max is
  // ROOT/cpu.max; on a host the cgroup is a path below ROOT, and every ancestor's quota applies too.
  int limit = 0;
  auto apply = [&](const std::string& dir) {
    const int l = cgroup_cpu_max_limit(read_small_file(dir + "/cpu.max"));
    if (l > 0) limit = limit > 0 ? std::min(limit, l) : l;
  };
  apply(root);
  const std::string path = cgroup_v2_path(read_small_file(proc_self_cgroup));
  std::string dir = root;
  std::istringstream parts(path);
  for (std::string part; std::getline(parts, part, '/');) {
    if (part.empty() || part == "." || part == "..") continue;
    dir += "/" + part;
    apply(dir);
  }
  return limit;
}

int available_cpus() {
  static const int n = [] {
    int cpus = affinity_cpus();
    if (const int quota = cgroup_cpu_limit(); quota > 0) cpus = std::min(cpus, quota);
    return std::max(1, cpus);
  }();
  return n;
}

int default_num_threads() {
  static const int n = [] {
    // More threads than the CPUs the process may run on (taskset, a cpuset, a container's CPU
    // quota) oversubscribe badly: a thread waiting at a barrier holds a core the late one needs.
    int v = std::min(physical_cores(), available_cpus());
    // OMP_NUM_THREADS, when set, is the user's choice, within the same bounds.
    const char* env = std::getenv("OMP_NUM_THREADS");
    const int omp = env ? std::atoi(env) : 0;
    if (omp > 0) v = std::min(v, omp);
    return std::max(1, v);
  }();
  return n;
}

int num_threads() {
  int n = g_threads.load();
  if (n <= 0) {
    set_num_threads(0);
    n = g_threads.load();
  }
  return n;
}

void set_num_threads(int n) {
  // Each OpenMP worker reserves a stack: tens of thousands exhaust memory and crash.
  if (n > kMaxThreads)
    fail(ErrorKind::InvalidArgument, "--threads {} is more than the limit of {} worker threads", n, kMaxThreads);
  if (n <= 0) {
    n = default_num_threads();
  } else if (n > available_cpus()) {
    spdlog::warn("--threads {} is more than the {} CPU(s) this process may use; the extra threads wait for a core", n,
                 available_cpus());
  }
  g_threads.store(n);
  omp_set_num_threads(n);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int threads = num_threads();
  int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  // Always the whole team, even with fewer chunks than threads: a region of another size makes
  // libgomp re-dock the pool's threads, and at 16 threads decode (a few-thread attention region
  // between full-width GEMVs) ran at half speed (24-30 -> 56-62 tok/s, llama-1b).
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t begin = n * c / chunks;
    int64_t end = n * (c + 1) / chunks;
    if (begin < end) fn(begin, end);
  }
}

void parallel_for_balanced(int64_t n, int64_t unit, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  unit = std::max<int64_t>(unit, 1);
  const int64_t units = (n + unit - 1) / unit;
  const int threads = num_threads();  // the whole team even when units < threads (see parallel_for)
  if (threads <= 1 || units <= 1) {
    fn(0, n);
    return;
  }
  std::atomic<int64_t> next{0};  // in units
#pragma omp parallel num_threads(threads)
  {
    int64_t start = next.load(std::memory_order_relaxed);
    while (start < units) {
      // As OpenMP's guided schedule: a thread's share of what is left, at least one unit.
      const int64_t end = start + (units - start + threads - 1) / threads;
      if (next.compare_exchange_weak(start, end, std::memory_order_relaxed)) {
        fn(start * unit, std::min(n, end * unit));
        start = next.load(std::memory_order_relaxed);
      }
    }
  }
}

void parallel_tasks(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  const int threads = num_threads();
  if (threads <= 1 || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int64_t> next{0};
#pragma omp parallel num_threads(threads)
  {
    for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
         i = next.fetch_add(1, std::memory_order_relaxed))
      fn(i);
  }
}

}  // namespace ia
