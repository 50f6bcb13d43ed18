#pragma once
// The device a benchmark binary measures on: IA_BENCH_DEVICE ("cpu" by default, "cuda",
// "cuda:N"), read in main before any case is registered, because the device decides which cases
// exist (GPU-sized shapes, GPU ceilings).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "backends/backend.h"
#include "benchmarks/ceilings.h"
#include "core/tensor.h"
#include "ops/ops.h"
#include "runtime/device_selection.h"

namespace ia::bench {

inline Device& bench_device() {
  static Device device = Device::cpu();
  return device;
}
inline bool on_gpu() {
  return !bench_device().is_cpu();
}
// Ends a timed region on a GPU, where ops only queue work; the CPU computes synchronously.
inline void wait_device() {
  if (on_gpu()) ops::synchronize(bench_device());
}

// Uniform values from an LCG, fast enough for GPU-sized operands (benchmarks/ceilings.h).
using benchmarks::fast_random;

// Registers fn(state, args...) under `name`. An error (a model that does not load, GPU memory
// exhausted, a failed kernel) marks that benchmark failed in the output and the run goes on.
template <class Fn, class... Args>
benchmark::internal::Benchmark* add(const std::string& name, Fn fn, Args... args) {
  return benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    try {
      fn(state, args...);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
    }
  });
}

// BENCHMARK_MAIN with the device read first: a device that cannot be used is exit 2 and why.
inline int run_benchmarks(int argc, char** argv, const char* name, void (*register_cpu)(), void (*register_gpu)()) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const char* requested = std::getenv("IA_BENCH_DEVICE");
  try {
    bench_device() = choose_device(requested && *requested ? requested : "cpu");
    if (on_gpu()) benchmark::AddCustomContext("ia_device", backend_for(bench_device()).name());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: IA_BENCH_DEVICE=%s: %s\n", name, requested ? requested : "", e.what());
    return 2;
  }
  if (on_gpu())
    register_gpu();
  else
    register_cpu();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace ia::bench
