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

#include "core/error.h"

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
  // Each OpenMP worker reserves a stack: tens of thousands exhaust memory and crash.
  if (n > kMaxThreads)
    fail(ErrorKind::InvalidArgument, "--threads {} is more than the limit of {} worker threads", n, kMaxThreads);
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
