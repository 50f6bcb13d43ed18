// Decoder generation speed on random-weight models shaped like TinyLlama-1.1B
// and Qwen2-0.5B (bf16 weights), each beside a ceiling measured in the same run:
// - decode (batch 1 and 8): tokens/s and GB/s of weights streamed per step,
//   against the machine's memory bandwidth (a large-array copy and a large
//   streaming read); "of_roofline" = achieved GB/s / copy GB/s;
// - prefill of 512 tokens: tokens/s and FLOP/s, against one large bf16 GEMM
//   through the same linear op; "of_gemm" = achieved / GEMM FLOP/s;
// - the bf16 GEMV of each weight shape alone (GB/s), to locate losses.
// Model folders are written once under the temp dir (IA_BENCH_DECODE_DIR overrides).
// The CPU also runs TinyLlama packed at load (--quantize int8 and q4: docs/quantization.md):
// decode at batch 1 and 8, prefill of 512 tokens, and the packed GEMVs of the gate|up shape.
//
// IA_BENCH_DEVICE = cpu (default) | cuda | cuda:N picks the device the models load on. On a GPU
// the ceilings are the GPU's (a device-to-device copy of 1 GiB, an 8192^3 bf16 GEMM, the GEMVs on
// device tensors), every timed region ends once the GPU has finished (ops only queue work there),
// and the cases are those of issue 12's comparison with PyTorch (scripts/gpu/bench.sh): TinyLlama
// decode at batch 1, 16 and 64 (32-token prompts, 128 new tokens) and prefill of 128, 512 and 2048
// tokens. Decode steps take the greedy token on the model's device and bring back only ids, as
// generation does (before 2026-12-07 the whole logits came to the host for a host argmax, which
// at batch 64 on the GPU halved the figure).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "bench_device.h"
#include "benchmarks/ceilings.h"
#include "core/quantization.h"
#include "core/thread_pool.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/decoder_lm.h"
#include "models/decoder_random.h"
#include "ops/ops.h"
#include "runtime/device_selection.h"
#include "runtime/step_runner.h"

namespace {

namespace fs = std::filesystem;

constexpr int64_t kPromptLen = 16;    // context before timed decode steps
constexpr int64_t kDecodeSteps = 32;  // decode steps per benchmark iteration
constexpr int64_t kPrefillLen = 512;
// GPU decode as issue 12 and hf_reference_bench.py measure it: 32-token prompts, 128 new tokens
// (the prefill yields the first, then 127 steps).
constexpr int64_t kGpuPromptLen = 32, kGpuDecodeSteps = 127;

// The device the models and ceilings run on (IA_BENCH_DEVICE, read in main).
ia::Device& g_device = ia::bench::bench_device();
using ia::bench::add;
using ia::bench::fast_random;
using ia::bench::on_gpu;
using ia::bench::wait_device;
ia::Tensor on_device(const ia::Tensor& t) {
  return ia::ops::to_device(t, g_device);
}

// Baselines measured earlier in the same run (benchmarks run in registration order).
double g_copy_bytes_per_s = 0, g_gemm_flops = 0;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string model_dir(const std::string& like) {
  const char* env = std::getenv("IA_BENCH_DECODE_DIR");
  const fs::path root = env ? fs::path(env) : fs::temp_directory_path();
  const std::string dir = (root / ("ia-bench-" + like + "-bf16")).string();
  // A sharded folder counts too (scripts/gpu/bench.sh links the one hf_reference_bench.py saves).
  if (!fs::exists(dir + "/model.safetensors") && !fs::exists(dir + "/model.safetensors.index.json"))
    ia::write_random_decoder(ia::random_decoder_preset(like), ia::DType::BF16, dir, 1);
  return dir;
}

struct Loaded {
  std::shared_ptr<ia::WeightStore> weights;  // the mmap the decoder's views point into
  std::unique_ptr<ia::DecoderLM> decoder;
};

// `quantize`: a --quantize method ("" for none).
const Loaded& load(const std::string& like, const std::string& quantize = "") {
  // Never destroyed: on a GPU the CUDA runtime may be gone when static destructors would free into it.
  static auto& cache = *new std::map<std::string, Loaded>;
  auto it = cache.find(like + "/" + quantize);
  if (it != cache.end()) return it->second;
  const std::string dir = model_dir(like);
  Loaded l;
  l.weights = ia::WeightStore::open(dir);
  l.weights->set_quantization(ia::weight_quantization(quantize));
  l.decoder = ia::DecoderLM::load(ia::HfConfig::load(dir), *l.weights, ia::DType::BF16, g_device);
  return cache.emplace(like + "/" + quantize, std::move(l)).first->second;
}

std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = 3 + static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab - 3));
  return ids;
}

// Streams a buffer much larger than the caches: the copy ceiling of benchmarks/ceilings.h (in
// parallel over the threads the model uses; on a GPU device-to-device copies, 4 per iteration).
constexpr size_t kBandwidthBytes = size_t{1} << 30;

void BM_MemCopy(benchmark::State& state) {
  ia::benchmarks::CopyWorkload copy(g_device, kBandwidthBytes);
  copy.run();
  const double t0 = now_s();
  for (auto _ : state) copy.run();
  // Bytes read + bytes written, as STREAM counts a copy.
  state.counters["GB/s"] =
      benchmark::Counter(copy.bytes_per_run() / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  g_copy_bytes_per_s = copy.bytes_per_run() * static_cast<double>(state.iterations()) / (now_s() - t0);
}

void BM_MemRead(benchmark::State& state) {
  std::vector<uint64_t> a(kBandwidthBytes / 8, 3);
  const int64_t n = static_cast<int64_t>(a.size());
  for (auto _ : state) {
    ia::parallel_for(n, n / 64, [&](int64_t i0, int64_t i1) {
      uint64_t s = 0;
      for (int64_t i = i0; i < i1; ++i) s += a[static_cast<size_t>(i)];
      benchmark::DoNotOptimize(s);
    });
  }
  state.counters["GB/s"] = benchmark::Counter(kBandwidthBytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// The attainable bf16 GEMM rate: one large product through the same linear op
// (benchmarks/ceilings.h: 4096x2048x2048 on the CPU, 8192^3 on a GPU).
void BM_LargeGemmBf16(benchmark::State& state) {
  const ia::benchmarks::GemmShape s = ia::benchmarks::default_gemm_shape(g_device);
  ia::benchmarks::GemmWorkload gemm(g_device, ia::DType::BF16, s.m, s.n, s.k);
  gemm.run();
  const double t0 = now_s();
  for (auto _ : state) gemm.run();
  state.counters["FLOP/s"] = benchmark::Counter(gemm.flops_per_run(), benchmark::Counter::kIsIterationInvariantRate);
  g_gemm_flops = gemm.flops_per_run() * static_cast<double>(state.iterations()) / (now_s() - t0);
}

// One bf16 linear at decode shape (M rows), weights larger than the caches.
void BM_Gemv(benchmark::State& state, int64_t M, int64_t N, int64_t K) {
  // Several copies so consecutive calls do not hit a warm last-level cache.
  const int64_t copies = std::max<int64_t>(1, (int64_t{256} << 20) / (N * K * 2));
  std::vector<ia::Tensor> ws;
  std::mt19937 rng(2);
  ia::Tensor w;
  for (int64_t c = 0; c < copies; ++c) {
    // On a GPU the copies are uploads of one host tensor: distinct device memory is what defeats
    // the cache, and filling each anew would cost seconds over the library's repeated runs.
    if (on_gpu() && c > 0) {
      ws.push_back(on_device(w));
      continue;
    }
    w = ia::Tensor::empty({N, K}, ia::DType::BF16);
    for (int64_t i = 0; i < w.numel(); ++i) w.data<uint16_t>()[i] = static_cast<uint16_t>(0x3c00 + (rng() & 0xff));
    ws.push_back(on_gpu() ? on_device(w) : w);
  }
  ia::Tensor x = ia::Tensor::empty({M, K}, ia::DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 0.5f;
  // On a GPU x is bf16, as the decoder's rms_norm / swiglu hand it to its linears; one call takes
  // microseconds there, so each iteration queues several and waits once.
  if (on_gpu()) x = on_device(x.to(ia::DType::BF16));
  const int64_t calls = on_gpu() ? std::max<int64_t>(copies, 16) : 1;
  if (on_gpu()) {  // warm-up: the GEMM heuristic's choice for this shape
    ia::ops::linear(x, ws[0], nullptr);
    wait_device();
  }
  size_t c = 0;
  for (auto _ : state) {
    for (int64_t i = 0; i < calls; ++i) {
      benchmark::DoNotOptimize(ia::ops::linear(x, ws[c], nullptr).raw());
      c = (c + 1) % ws.size();
    }
    wait_device();
  }
  state.counters["GB/s"] =
      benchmark::Counter(2.0 * N * K * static_cast<double>(calls) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// One packed linear (core/quantization.h) at decode shape; GB/s of packed bytes.
void BM_GemvPacked(benchmark::State& state, int64_t M, int64_t N, int64_t K, ia::DType format) {
  ia::Tensor wf = fast_random({N, K}, 0.02f, 2);
  ia::Tensor w0 = ia::quantize_matrix(wf, format);
  const int64_t copies = std::max<int64_t>(1, (int64_t{256} << 20) / static_cast<int64_t>(w0.nbytes()));
  std::vector<ia::Tensor> ws{w0};
  for (int64_t c = 1; c < copies; ++c) ws.push_back(w0.clone());
  ia::Tensor x = fast_random({M, K}, 1.0f, 1);
  size_t c = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ia::ops::linear(x, ws[c], nullptr).raw());
    c = (c + 1) % ws.size();
  }
  state.counters["GB/s"] =
      benchmark::Counter(static_cast<double>(w0.nbytes()) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// Timed regions end with a host read (the step runner copies the logits to the host), which on a
// GPU waits for the step's work.
void BM_Decode(benchmark::State& state, const std::string& like, int64_t batch, int64_t prompt_len,
               int64_t decode_steps, const std::string& quantize = "") {
  const Loaded& m = load(like, quantize);
  const ia::CausalLM& dec = *m.decoder;
  const int64_t V = dec.config().vocab_size;
  const int64_t bs = 16, per_seq = (prompt_len + decode_steps + bs) / bs + 1;
  auto cache = dec.make_cache(batch * per_seq, bs);
  ia::CausalStepRunner runner(dec);  // keeps its step buffers between steps, as generation does
  std::vector<std::vector<int32_t>> prompts, next(static_cast<size_t>(batch), std::vector<int32_t>(1, 5));
  std::vector<int64_t> seqs;
  auto start = [&] {  // fresh sequences with a prefilled prompt
    for (int64_t s : seqs) cache->release(s);
    seqs.clear();
    prompts.clear();
    std::vector<ia::SeqChunk> chunks;
    for (int64_t b = 0; b < batch; ++b) {
      seqs.push_back(cache->create_sequence());
      prompts.push_back(random_ids(prompt_len, V, static_cast<uint32_t>(b)));
    }
    for (int64_t b = 0; b < batch; ++b)
      chunks.push_back({seqs[static_cast<size_t>(b)], prompts[static_cast<size_t>(b)]});
    runner.step(chunks, *cache);
  };
  auto steps = [&] {
    for (int64_t i = 0; i < decode_steps; ++i) {
      std::vector<ia::SeqChunk> chunks;
      for (int64_t b = 0; b < batch; ++b)
        chunks.push_back({seqs[static_cast<size_t>(b)], next[static_cast<size_t>(b)]});
      // Greedy, as generation draws it: the argmax on the model's device, only ids back (each
      // step depends on the last).
      const std::vector<int32_t> ids = runner.step_greedy(chunks, *cache);
      for (int64_t b = 0; b < batch; ++b) next[static_cast<size_t>(b)][0] = ids[static_cast<size_t>(b)];
    }
  };
  start();
  steps();  // warm-up: page faults on the mmap'd weights, primitive creation
  double timed = 0, prefill_timed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const double p0 = now_s();
    start();
    prefill_timed += now_s() - p0;
    state.ResumeTiming();
    const double t0 = now_s();
    steps();
    timed += now_s() - t0;
  }
  const double bytes = static_cast<double>(dec.weight_bytes_per_token());
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(batch * decode_steps), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weights_GB/s"] =
      benchmark::Counter(bytes * decode_steps / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_MB"] = bytes / 1e6;
  // Each step streams every weight once (for the whole batch): the roofline is copy bandwidth / bytes per step.
  if (g_copy_bytes_per_s > 0 && timed > 0)
    state.counters["of_roofline"] =
        bytes * decode_steps * static_cast<double>(state.iterations()) / timed / g_copy_bytes_per_s;
  // What PyTorch's generate() reports: new tokens (the prefill's and one per step) over prefill + steps.
  if (on_gpu() && timed + prefill_timed > 0)
    state.counters["generate_tokens/s"] = static_cast<double>(batch * (decode_steps + 1)) *
                                          static_cast<double>(state.iterations()) / (timed + prefill_timed);
}

// `bf16`: the model's bf16 load (its weight bytes count the parameters).
double prefill_flops(const ia::CausalLM& dec, const ia::CausalLM& bf16, int64_t T) {
  const auto& c = dec.config();
  // Linear layers (every bf16 weight once per token, but the LM head only for the last
  // token: prefill returns one row of logits) + attention scores and values (causal: half).
  const double head = static_cast<double>(c.vocab_size * c.hidden_size);
  const double params = static_cast<double>(bf16.weight_bytes_per_token()) / 2.0;
  const double linear = 2.0 * static_cast<double>(T) * (params - head) + 2.0 * head;
  const double attn = 2.0 * 2.0 * static_cast<double>(c.num_layers) * static_cast<double>(c.num_heads * c.head_dim) *
                      static_cast<double>(T) * static_cast<double>(T + 1) / 2.0;
  return linear + attn;
}

void BM_Prefill(benchmark::State& state, const std::string& like, int64_t prefill_len,
                const std::string& quantize = "") {
  const Loaded& m = load(like, quantize);
  const ia::CausalLM& dec = *m.decoder;
  auto cache = dec.make_cache((prefill_len + 15) / 16 + 1, 16);
  const std::vector<int32_t> prompt = random_ids(prefill_len, dec.config().vocab_size, 9);
  ia::CausalStepRunner runner(dec);
  auto run = [&] {  // ends with a host read of the logits (on a GPU: once the step has run)
    const int64_t seq = cache->create_sequence();
    benchmark::DoNotOptimize(runner.step({{seq, prompt}}, *cache).raw());
    cache->release(seq);
  };
  run();  // warm-up: prepacked weights, primitives
  const double t0 = now_s();
  for (auto _ : state) run();
  const double elapsed = now_s() - t0, flops = prefill_flops(dec, *load(like).decoder, prefill_len);
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(prefill_len), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  if (g_gemm_flops > 0)
    state.counters["of_gemm"] = flops * static_cast<double>(state.iterations()) / elapsed / g_gemm_flops;
}

void register_cpu() {  // the cases and order of every earlier session
  add("BM_MemCopy", BM_MemCopy)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
  add("BM_MemRead", BM_MemRead)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
  add("BM_LargeGemmBf16", BM_LargeGemmBf16)->Unit(benchmark::kMillisecond)->UseRealTime();
  // TinyLlama-1.1B shapes: fused QKV, o_proj, fused gate|up, down_proj, lm_head.
  add("BM_Gemv/qkv_2560x2048", BM_Gemv, 1, 2560, 2048)->Unit(benchmark::kMillisecond)->UseRealTime();
  add("BM_Gemv/o_2048x2048", BM_Gemv, 1, 2048, 2048)->Unit(benchmark::kMillisecond)->UseRealTime();
  add("BM_Gemv/gate_up_11264x2048", BM_Gemv, 1, 11264, 2048)->Unit(benchmark::kMillisecond)->UseRealTime();
  add("BM_Gemv/down_2048x5632", BM_Gemv, 1, 2048, 5632)->Unit(benchmark::kMillisecond)->UseRealTime();
  add("BM_Gemv/lm_head_32000x2048", BM_Gemv, 1, 32000, 2048)->Unit(benchmark::kMillisecond)->UseRealTime();
  add("BM_Gemv/gate_up_m8_11264x2048", BM_Gemv, 8, 11264, 2048)->Unit(benchmark::kMillisecond)->UseRealTime();
  for (const auto& [name, like] : {std::pair{"llama_1b", "llama-1b"}, std::pair{"qwen2_05b", "qwen2-0.5b"}}) {
    for (int64_t batch : {1, 8})
      add(std::string("BM_Decode/") + name + "_b" + std::to_string(batch), BM_Decode, std::string(like), batch,
          kPromptLen, kDecodeSteps, std::string())
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    add(std::string("BM_Prefill/") + name + "_512", BM_Prefill, std::string(like), kPrefillLen, std::string())
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  // Packed weights (issue 18; against llama.cpp's Q8_0 / Q4_0 on the same shapes).
  for (const auto& [name, format] : {std::pair{"q8", ia::DType::Q8}, std::pair{"q4_g32", ia::DType::Q4G32}})
    for (int64_t m : {1, 8})
      add(std::string("BM_GemvPacked/") + name + "_gate_up_m" + std::to_string(m) + "_11264x2048", BM_GemvPacked, m,
          11264, 2048, format)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  for (const char* method : {"int8", "q4"}) {
    for (int64_t batch : {1, 8})
      add(std::string("BM_Decode/llama_1b_") + method + "_b" + std::to_string(batch), BM_Decode,
          std::string("llama-1b"), batch, kPromptLen, kDecodeSteps, std::string(method))
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    add(std::string("BM_Prefill/llama_1b_") + method + "_512", BM_Prefill, std::string("llama-1b"), kPrefillLen,
        std::string(method))
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
}

// The GPU runs the TinyLlama shape only (the one hf_reference_bench.py measures), at its sizes.
void register_gpu() {
  add("BM_MemCopy", BM_MemCopy)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
  add("BM_LargeGemmBf16", BM_LargeGemmBf16)->Unit(benchmark::kMillisecond)->UseRealTime();
  add("BM_Gemv/qkv_2560x2048", BM_Gemv, 1, 2560, 2048)->Unit(benchmark::kMillisecond)->UseRealTime();
  add("BM_Gemv/o_2048x2048", BM_Gemv, 1, 2048, 2048)->Unit(benchmark::kMillisecond)->UseRealTime();
  add("BM_Gemv/gate_up_11264x2048", BM_Gemv, 1, 11264, 2048)->Unit(benchmark::kMillisecond)->UseRealTime();
  add("BM_Gemv/down_2048x5632", BM_Gemv, 1, 2048, 5632)->Unit(benchmark::kMillisecond)->UseRealTime();
  add("BM_Gemv/lm_head_32000x2048", BM_Gemv, 1, 32000, 2048)->Unit(benchmark::kMillisecond)->UseRealTime();
  // A few rows (batched decode): where the GEMV kernel hands over to cuBLASLt (IA_CUDA_GEMV_ROWS).
  for (int64_t m : {2, 4, 8})
    add("BM_Gemv/gate_up_m" + std::to_string(m) + "_11264x2048", BM_Gemv, m, 11264, 2048)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  add("BM_Gemv/o_m8_2048x2048", BM_Gemv, 8, 2048, 2048)->Unit(benchmark::kMillisecond)->UseRealTime();
  add("BM_Gemv/gate_up_m64_11264x2048", BM_Gemv, 64, 11264, 2048)->Unit(benchmark::kMillisecond)->UseRealTime();
  for (int64_t batch : {1, 16, 64})
    add("BM_Decode/llama_1b_b" + std::to_string(batch), BM_Decode, std::string("llama-1b"), batch, kGpuPromptLen,
        kGpuDecodeSteps, std::string())
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  for (int64_t len : {128, 512, 2048})
    add("BM_Prefill/llama_1b_" + std::to_string(len), BM_Prefill, std::string("llama-1b"), len, std::string())
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  return ia::bench::run_benchmarks(argc, argv, "bench_decode", register_cpu, register_gpu);
}
