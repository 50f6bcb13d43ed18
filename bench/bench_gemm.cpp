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

// An encoder's feed-forward pair with bf16 weights: up (+ GELU epilogue) then down (+ residual),
// the intermediate handed over in f32 (rounded to bf16 by the down projection) or already in
// bf16 from the up projection's epilogue (intermediate = 1).
void BM_FeedForwardBf16(benchmark::State& state) {
  const int64_t M = state.range(0), H = state.range(1), I = state.range(2);
  const ia::DType mid = state.range(3) ? ia::DType::BF16 : ia::DType::F32;
  ia::Tensor x = random_tensor({M, H}, 1);
  ia::Tensor up = random_tensor({I, H}, 2).to(ia::DType::BF16), down = random_tensor({H, I}, 3).to(ia::DType::BF16);
  ia::Tensor bu = random_tensor({I}, 4), bd = random_tensor({H}, 5);
  ia::LinearEpilogue gelu;
  gelu.has_activation = true;
  ia::LinearEpilogue residual;
  residual.residual = &x;
  auto run = [&] { return ia::ops::linear(ia::ops::linear(x, up, &bu, gelu, mid), down, &bd, residual); };
  benchmark::DoNotOptimize(run().raw());
  for (auto _ : state) benchmark::DoNotOptimize(run().raw());
  state.counters["GFLOP/s"] =
      benchmark::Counter(4.0 * static_cast<double>(M * H * I) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(ia::cpu::onednn_isa_name());
}
BENCHMARK(BM_FeedForwardBf16)
    ->ArgNames({"M", "H", "I", "bf16_mid"})
    ->ArgsProduct({{4096}, {384}, {1536}, {0, 1}})
    ->ArgsProduct({{4096}, {768}, {3072}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

// Threads: the pool's default (physical cores within the affinity mask, or OMP_NUM_THREADS).
BENCHMARK_MAIN();
