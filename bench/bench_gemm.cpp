// GEMM throughput through ops::linear (what models call): f32 weights, and
// bf16 weights (activations converted to bf16, oneDNN bf16 matmul -> AMX /
// AVX512-BF16 where present). Counter GFLOP/s = 2*M*N*K per iteration.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>

#include "backends/cpu/cpu_backend.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace {

ia::Tensor random_tensor(const ia::Shape& s, uint32_t seed) {
  ia::Tensor t = ia::Tensor::empty(s, ia::DType::F32);
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(g);
  return t;
}

void BM_Linear(benchmark::State& state, ia::DType wdt) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  ia::Tensor x = random_tensor({M, K}, 1);
  ia::Tensor w = random_tensor({N, K}, 2);
  if (wdt != ia::DType::F32) w = w.to(wdt);
  ia::Tensor b = random_tensor({N}, 3);
  benchmark::DoNotOptimize(ia::ops::linear(x, w, &b));  // primitive creation outside the timing
  for (auto _ : state) {
    ia::Tensor y = ia::ops::linear(x, w, &b);
    benchmark::DoNotOptimize(y.raw());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(M * N * K) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(ia::cpu::onednn_isa_name());
}

void Shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "K", "N"});
  b->Args({2048, 2048, 2048});
  // BERT at batch 32 x 128 tokens (M = 4096): MiniLM (384) and base (768) projections.
  for (int64_t n : {384, 1152, 1536}) b->Args({4096, 384, n});
  b->Args({4096, 1536, 384});
  for (int64_t n : {768, 2304, 3072}) b->Args({4096, 768, n});
  b->Args({4096, 3072, 768});
  // A single short sequence (latency path).
  b->Args({128, 768, 768});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK_CAPTURE(BM_Linear, f32, ia::DType::F32)->Apply(Shapes);
BENCHMARK_CAPTURE(BM_Linear, bf16, ia::DType::BF16)->Apply(Shapes);

}  // namespace

// Threads: the pool's default (physical cores within the affinity mask, or OMP_NUM_THREADS).
BENCHMARK_MAIN();
