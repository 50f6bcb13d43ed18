// Encoder-relevant kernels at BERT shapes (batch 32 x 128 tokens unless noted), and decoder
// prefill attention.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace {

ia::Tensor i32_tensor(const std::vector<int32_t>& v, const ia::Shape& s) {
  ia::Tensor t = ia::Tensor::empty(s, ia::DType::I32);
  std::copy(v.begin(), v.end(), t.data<int32_t>());
  return t;
}

ia::Tensor random_tensor(const ia::Shape& s, uint32_t seed) {
  ia::Tensor t = ia::Tensor::empty(s, ia::DType::F32);
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-2, 2);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(g);
  return t;
}

void bytes_counter(benchmark::State& state, double bytes) {
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(ia::cpu::kernels().name);
}

void BM_LayerNorm(benchmark::State& state) {
  const int64_t M = state.range(0), H = state.range(1);
  ia::Tensor x = random_tensor({M, H}, 1), w = random_tensor({H}, 2), b = random_tensor({H}, 3);
  for (auto _ : state) benchmark::DoNotOptimize(ia::ops::layer_norm(x, w, &b, 1e-12f).raw());
  bytes_counter(state, 8.0 * static_cast<double>(M * H));
}
BENCHMARK(BM_LayerNorm)->Args({4096, 384})->Args({4096, 768})->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Gelu(benchmark::State& state) {
  const int64_t M = state.range(0), H = state.range(1);
  ia::Tensor x = random_tensor({M, H}, 1);
  const auto act = state.range(2) ? ia::Activation::GeluTanh : ia::Activation::GeluErf;
  for (auto _ : state) benchmark::DoNotOptimize(ia::ops::activation(act, x).raw());
  bytes_counter(state, 8.0 * static_cast<double>(M * H));
}
BENCHMARK(BM_Gelu)
    ->ArgNames({"M", "H", "tanh"})
    ->Args({4096, 1536, 0})
    ->Args({4096, 3072, 0})
    ->Args({4096, 3072, 1})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_Add(benchmark::State& state) {
  const int64_t M = state.range(0), H = state.range(1);
  ia::Tensor a = random_tensor({M, H}, 1), b = random_tensor({M, H}, 2);
  for (auto _ : state) benchmark::DoNotOptimize(ia::ops::add(a, b).raw());
  bytes_counter(state, 12.0 * static_cast<double>(M * H));
}
BENCHMARK(BM_Add)->Args({4096, 384})->Args({4096, 768})->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Softmax(benchmark::State& state) {
  const int64_t R = state.range(0), N = state.range(1);
  ia::Tensor x = random_tensor({R, N}, 1);
  for (auto _ : state) benchmark::DoNotOptimize(ia::ops::softmax(x).raw());
  bytes_counter(state, 8.0 * static_cast<double>(R * N));
}
BENCHMARK(BM_Softmax)->Args({32 * 12 * 128, 128})->Unit(benchmark::kMicrosecond)->UseRealTime();

// Encoder batches: B sequences of S tokens, or (mixed) of lengths drawn from 16..S.
std::vector<int64_t> encoder_lengths(int64_t B, int64_t S, bool mixed) {
  std::vector<int64_t> lens(static_cast<size_t>(B), S);
  std::mt19937 g(7);
  if (mixed)
    for (auto& n : lens) n = 16 + static_cast<int64_t>(g() % static_cast<uint32_t>(S - 15));
  return lens;
}

// (query, key) pairs of a bidirectional batch: sum of len^2.
double attention_pairs(const std::vector<int64_t>& lens) {
  double pairs = 0;
  for (int64_t n : lens) pairs += static_cast<double>(n * n);
  return pairs;
}

// Self-attention on q/k/v views of a fused [B, S, 3*H*D] projection, padded to S tokens with a
// key mask (the padded batch layout of ops::attention).
void BM_Attention(benchmark::State& state) {
  const int64_t B = state.range(0), S = state.range(1), H = state.range(2), D = state.range(3);
  const std::vector<int64_t> lens = encoder_lengths(B, S, state.range(4) != 0);
  ia::Tensor qkv = random_tensor({B, S, 3 * H * D}, 1).view({B, S, 3, H, D});
  ia::Tensor q = qkv.select(2, 0), k = qkv.select(2, 1), v = qkv.select(2, 2);
  std::vector<int64_t> mask(static_cast<size_t>(B * S), 1);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = lens[static_cast<size_t>(b)]; s < S; ++s) mask[static_cast<size_t>(b * S + s)] = 0;
  ia::Tensor m = ia::Tensor::from_vector(mask, {B, S});
  ia::AttentionParams p{1.0f / std::sqrt(static_cast<float>(D)), false};
  benchmark::DoNotOptimize(ia::ops::attention(q, k, v, &m, p).raw());
  for (auto _ : state) benchmark::DoNotOptimize(ia::ops::attention(q, k, v, &m, p).raw());
  // Useful work only (the pairs of real tokens), as for BM_VarlenAttention.
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * static_cast<double>(H * D) * attention_pairs(lens) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Attention)
    ->ArgNames({"B", "S", "H", "D", "mixed"})
    ->Args({32, 128, 12, 64, 0})  // BERT-base
    ->Args({32, 128, 12, 32, 0})  // MiniLM-L6
    ->Args({32, 128, 12, 64, 1})
    ->Args({32, 128, 12, 32, 1})
    ->Args({1, 512, 12, 64, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The same batches packed back to back ([T, 3H, D] fused projection, no padding), bidirectional.
void BM_VarlenAttention(benchmark::State& state) {
  const int64_t B = state.range(0), S = state.range(1), H = state.range(2), D = state.range(3);
  const std::vector<int64_t> lens = encoder_lengths(B, S, state.range(4) != 0);
  std::vector<int32_t> starts{0};
  for (int64_t n : lens) starts.push_back(starts.back() + static_cast<int32_t>(n));
  const int64_t T = starts.back();
  ia::Tensor qkv = random_tensor({T, 3 * H, D}, 1);
  ia::Tensor q = qkv.narrow(1, 0, H), k = qkv.narrow(1, H, H), v = qkv.narrow(1, 2 * H, H);
  ia::Tensor qs = i32_tensor(starts, {B + 1});
  ia::VarlenAttentionParams p;
  p.scale = 1.0f / std::sqrt(static_cast<float>(D));
  p.bf16_products = state.range(5) != 0;
  benchmark::DoNotOptimize(ia::ops::varlen_attention(q, k, v, qs, p).raw());
  for (auto _ : state) benchmark::DoNotOptimize(ia::ops::varlen_attention(q, k, v, qs, p).raw());
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * static_cast<double>(H * D) * attention_pairs(lens) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(ia::cpu::kernels().name);
}
BENCHMARK(BM_VarlenAttention)
    ->ArgNames({"B", "S", "H", "D", "mixed", "bf16"})
    ->ArgsProduct({{32}, {128}, {12}, {64, 32}, {0, 1}, {0, 1}})
    ->Args({1, 512, 12, 64, 0, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Causal prefill attention of one T-token prompt over the paged KV cache (decoder prefill):
// blocks of 16 tokens in a shuffled order, as a cache shared by several sequences leaves them.
void BM_PrefillAttention(benchmark::State& state) {
  const int64_t T = state.range(0), Hq = state.range(1), Hkv = state.range(2), D = state.range(3), bs = 16;
  const int64_t nblocks = (T + bs - 1) / bs;
  ia::Tensor q = random_tensor({T, Hq, D}, 1);
  ia::Tensor kc = random_tensor({nblocks, bs, Hkv, D}, 2), vc = random_tensor({nblocks, bs, Hkv, D}, 3);
  std::vector<int32_t> table(static_cast<size_t>(nblocks));
  for (int64_t b = 0; b < nblocks; ++b) table[static_cast<size_t>(b)] = static_cast<int32_t>(b);
  std::shuffle(table.begin(), table.end(), std::mt19937(4));
  ia::Tensor tables = i32_tensor(table, {1, nblocks});
  ia::Tensor lens = i32_tensor({static_cast<int32_t>(T)}, {1});
  ia::Tensor starts = i32_tensor({0, static_cast<int32_t>(T)}, {2});
  ia::PagedAttentionParams p;
  p.scale = 1.0f / std::sqrt(static_cast<float>(D));
  p.bf16_products = state.range(4) != 0;
  benchmark::DoNotOptimize(ia::ops::paged_attention(q, kc, vc, tables, lens, starts, p).raw());
  for (auto _ : state) benchmark::DoNotOptimize(ia::ops::paged_attention(q, kc, vc, tables, lens, starts, p).raw());
  // Causal: T (T + 1) / 2 (query, key) pairs, 2 D FLOP each for the scores and for the values.
  state.counters["GFLOP/s"] =
      benchmark::Counter(4.0 * static_cast<double>(Hq * D) * static_cast<double>(T * (T + 1) / 2) / 1e9,
                         benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_PrefillAttention)
    ->ArgNames({"T", "Hq", "Hkv", "D", "bf16"})
    ->Args({512, 14, 2, 64, 0})  // qwen2-0.5b
    ->Args({512, 32, 4, 64, 0})  // llama-1b
    ->Args({512, 14, 2, 64, 1})  // bf16 products (a bf16 model; AMX where the CPU has it)
    ->Args({512, 32, 4, 64, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Embedding(benchmark::State& state) {
  const int64_t V = 30522, H = state.range(0), n = 4096;
  ia::Tensor table = random_tensor({V, H}, 1);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  std::mt19937 g(3);
  for (auto& i : ids) i = static_cast<int64_t>(g() % V);
  ia::Tensor t = ia::Tensor::from_vector(ids, {32, 128});
  for (auto _ : state) benchmark::DoNotOptimize(ia::ops::embedding(table, t).raw());
  bytes_counter(state, 8.0 * static_cast<double>(n * H));
}
BENCHMARK(BM_Embedding)->Arg(768)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_CastBf16(benchmark::State& state) {
  ia::Tensor x = random_tensor({4096, 768}, 1);
  for (auto _ : state) benchmark::DoNotOptimize(ia::ops::cast(x, ia::DType::BF16).raw());
  bytes_counter(state, 6.0 * 4096 * 768);
}
BENCHMARK(BM_CastBf16)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

// Threads: the pool's default (physical cores within the affinity mask, or OMP_NUM_THREADS).
// ResNet-50 convolutions at DETR's 800x1066 input (IA_CPU_DNNL_CONV=0: the im2col path).
void BM_Conv2dResNet50(benchmark::State& state) {
  const int64_t H = state.range(0), W = state.range(1), Cin = state.range(2), Cout = state.range(3);
  const int64_t K = state.range(4), stride = state.range(5);
  ia::Tensor x = random_tensor({1, H, W, Cin}, 1), w = random_tensor({Cout, Cin, K, K}, 2),
             b = random_tensor({Cout}, 3);
  ia::Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.padding_h = p.padding_w = K / 2;
  p.bf16_products = state.range(6) != 0;
  for (auto _ : state) benchmark::DoNotOptimize(ia::ops::conv2d(x, w, &b, p).raw());
  const int64_t Hout = (H + 2 * (K / 2) - K) / stride + 1, Wout = (W + 2 * (K / 2) - K) / stride + 1;
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(Hout * Wout * Cout * Cin * K * K) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Conv2dResNet50)
    ->ArgNames({"H", "W", "Cin", "Cout", "K", "s", "bf16"})
    ->Args({800, 1066, 3, 64, 7, 2, 0})   // stem
    ->Args({200, 267, 64, 64, 3, 1, 0})   // stage 1 3x3
    ->Args({200, 267, 64, 256, 1, 1, 0})  // stage 1 1x1 expansion
    ->Args({50, 67, 256, 256, 3, 1, 0})   // stage 3 3x3
    ->Args({200, 267, 64, 64, 3, 1, 1})   // the same in bf16 products
    ->Args({200, 267, 64, 256, 1, 1, 1})
    ->Args({50, 67, 256, 256, 3, 1, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
