#pragma once
// The process-wide worker pool. It is OpenMP's (libgomp) on purpose: oneDNN
// as Debian ships it runs on OpenMP, and a second pool of our own would spin
// against it and oversubscribe the cores.
#include <cstdint>
#include <functional>

namespace ia {

// Most worker threads set_num_threads accepts (machines have at most a few hundred cores).
inline constexpr int kMaxThreads = 1024;

// Number of worker threads used by every parallel region (ours and oneDNN's).
int num_threads();
// n <= 0 means the default (physical cores); InvalidArgument above kMaxThreads.
void set_num_threads(int n);
int default_num_threads();

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
