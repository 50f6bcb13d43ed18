#include "core/thread_pool.h"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

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
  int n = cores.empty() ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))
                        : static_cast<int>(cores.size());
  // Under taskset or a cgroup cpuset fewer CPUs are ours; more threads than that oversubscribe badly.
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = std::min(n, std::max(1, CPU_COUNT(&set)));
  return n;
}
}  // namespace

int default_num_threads() {
  // OMP_NUM_THREADS, when set, is the user's explicit choice.
  static const int n = [] {
    const char* env = std::getenv("OMP_NUM_THREADS");
    int v = env ? std::atoi(env) : 0;
    return v > 0 ? v : physical_cores();
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
  if (n <= 0) n = default_num_threads();
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
#pragma omp parallel for num_threads(static_cast <int>(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t begin = n * c / chunks;
    int64_t end = n * (c + 1) / chunks;
    if (begin < end) fn(begin, end);
  }
}

}  // namespace ia
