// End-to-end encoder forward on random-weight models with all-MiniLM-L6-v2's
// and BERT-base's shapes (batch 32 x 128 tokens, and 32 of mixed lengths 16-128 packed
// without padding), f32 and bf16, reported as
// sequences/s and as a fraction of the GEMM rate this machine reaches on one
// large matrix product measured in the same run.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/bert_encoder.h"
#include "ops/ops.h"
#include "runtime/step_builder.h"

namespace {

namespace fs = std::filesystem;

struct Shape {
  const char* name;
  int64_t hidden, layers, heads, intermediate;
};
constexpr Shape kMiniLM{"minilm_l6", 384, 6, 12, 1536};
constexpr Shape kBertBase{"bert_base", 768, 12, 12, 3072};
constexpr int64_t kBatch = 32, kSeq = 128;
// The vocabulary only sizes the embedding table (a gather), so a small one keeps set-up fast.
constexpr int64_t kVocab = 1024;

ia::Tensor random_tensor(const ia::Shape& shape, std::mt19937& rng, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  ia::Tensor t = ia::Tensor::empty(shape, ia::DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// Writes a loadable BERT folder with random weights once per shape.
std::string random_bert_folder(const Shape& s) {
  std::string dir = (fs::temp_directory_path() / (std::string("ia-bench-") + s.name)).string();
  if (fs::exists(dir + "/model.safetensors")) return dir;
  fs::create_directories(dir);
  nlohmann::json cfg = {{"model_type", "bert"},
                        {"architectures", {"BertModel"}},
                        {"vocab_size", kVocab},
                        {"hidden_size", s.hidden},
                        {"num_hidden_layers", s.layers},
                        {"num_attention_heads", s.heads},
                        {"intermediate_size", s.intermediate},
                        {"max_position_embeddings", 512},
                        {"type_vocab_size", 2},
                        {"hidden_act", "gelu"},
                        {"layer_norm_eps", 1e-12}};
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  std::mt19937 rng(42);
  const int64_t H = s.hidden, I = s.intermediate;
  std::vector<std::pair<std::string, ia::Tensor>> w;
  auto add = [&](const std::string& n, const ia::Shape& shape, float scale) {
    w.emplace_back(n, random_tensor(shape, rng, scale));
  };
  add("embeddings.word_embeddings.weight", {kVocab, H}, 0.02f);
  add("embeddings.position_embeddings.weight", {512, H}, 0.02f);
  add("embeddings.token_type_embeddings.weight", {2, H}, 0.02f);
  add("embeddings.LayerNorm.weight", {H}, 1.0f);
  add("embeddings.LayerNorm.bias", {H}, 0.02f);
  for (int64_t l = 0; l < s.layers; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* n :
         {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
      add(p + n + ".weight", {H, H}, 0.02f);
      add(p + n + ".bias", {H}, 0.02f);
    }
    add(p + "attention.output.LayerNorm.weight", {H}, 1.0f);
    add(p + "attention.output.LayerNorm.bias", {H}, 0.02f);
    add(p + "intermediate.dense.weight", {I, H}, 0.02f);
    add(p + "intermediate.dense.bias", {I}, 0.02f);
    add(p + "output.dense.weight", {H, I}, 0.02f);
    add(p + "output.dense.bias", {H}, 0.02f);
    add(p + "output.LayerNorm.weight", {H}, 1.0f);
    add(p + "output.LayerNorm.bias", {H}, 0.02f);
  }
  ia::write_safetensors(dir + "/model.safetensors", w);
  return dir;
}

// Sequence lengths of one batch: all kSeq, or mixed (uniform in 16..kSeq, as
// real embedding traffic is; a padded engine pays for kSeq on each).
std::vector<int64_t> batch_lengths(bool mixed) {
  std::vector<int64_t> lens(kBatch, kSeq);
  std::mt19937 rng(11);
  if (mixed)
    for (auto& n : lens) n = 16 + static_cast<int64_t>(rng() % (kSeq - 16 + 1));
  return lens;
}

double encoder_flops(const Shape& s, const std::vector<int64_t>& lens) {
  const double H = s.hidden, I = s.intermediate;
  double gemm = 0, attn = 0;
  for (int64_t n : lens) {
    gemm += 2.0 * static_cast<double>(n) * H * (3 * H + H + 2 * I);
    attn += 2.0 * 2 * static_cast<double>(n * n) * H;
  }
  return s.layers * (gemm + attn);
}

void BM_Encoder(benchmark::State& state, Shape s, ia::DType dtype, bool mixed) {
  std::string dir = random_bert_folder(s);
  auto config = ia::HfConfig::load(dir);
  auto weights = ia::WeightStore::open(dir);
  auto enc = ia::BertEncoder::load(config, *weights, dtype, ia::Device::cpu());
  std::mt19937 rng(7);
  const std::vector<int64_t> lens = batch_lengths(mixed);
  std::vector<std::vector<int32_t>> ids;
  int64_t tokens = 0;
  for (int64_t n : lens) {
    std::vector<int32_t> row(static_cast<size_t>(n));
    for (auto& id : row) id = 5 + static_cast<int32_t>(rng() % (kVocab - 5));
    ids.push_back(std::move(row));
    tokens += n;
  }
  std::vector<std::span<const int32_t>> spans(ids.begin(), ids.end());
  ia::StepBuilder builder(enc->device());
  auto run = [&] {  // the runtime's work (packing the step) is part of what a user waits for
    ia::StepInputs step = builder.encoder_step(spans, {}, enc->vocab_size());
    return enc->forward(step);
  };
  run();  // warm-up: primitive creation, page faults
  for (auto _ : state) {
    auto out = run();
    benchmark::DoNotOptimize(out.last_hidden_state.raw());
  }
  state.counters["seq/s"] =
      benchmark::Counter(static_cast<double>(kBatch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["FLOP/s"] = benchmark::Counter(encoder_flops(s, lens), benchmark::Counter::kIsIterationInvariantRate);
}

// The machine's attainable GEMM rate: one large product through the same linear op.
void BM_LargeGemm(benchmark::State& state, ia::DType dtype) {
  const int64_t M = 4096, K = 2048, N = 2048;
  std::mt19937 rng(1);
  ia::Tensor x = random_tensor({M, K}, rng, 1.0f);
  ia::Tensor w = random_tensor({N, K}, rng, 0.02f).to(dtype);
  ia::ops::linear(x, w, nullptr);
  for (auto _ : state) {
    auto y = ia::ops::linear(x, w, nullptr);
    benchmark::DoNotOptimize(y.raw());
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(BM_LargeGemm, f32, ia::DType::F32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_LargeGemm, bf16, ia::DType::BF16)->Unit(benchmark::kMillisecond)->UseRealTime();
#define IA_ENCODER_BENCH(name, shape, dtype, mixed) \
  BENCHMARK_CAPTURE(BM_Encoder, name, shape, dtype, mixed)->Unit(benchmark::kMillisecond)->UseRealTime()
IA_ENCODER_BENCH(minilm_l6_f32, kMiniLM, ia::DType::F32, false);
IA_ENCODER_BENCH(minilm_l6_bf16, kMiniLM, ia::DType::BF16, false);
IA_ENCODER_BENCH(bert_base_f32, kBertBase, ia::DType::F32, false);
IA_ENCODER_BENCH(bert_base_bf16, kBertBase, ia::DType::BF16, false);
IA_ENCODER_BENCH(minilm_l6_f32_mixed, kMiniLM, ia::DType::F32, true);
IA_ENCODER_BENCH(minilm_l6_bf16_mixed, kMiniLM, ia::DType::BF16, true);
IA_ENCODER_BENCH(bert_base_f32_mixed, kBertBase, ia::DType::F32, true);
IA_ENCODER_BENCH(bert_base_bf16_mixed, kBertBase, ia::DType::BF16, true);

}  // namespace

BENCHMARK_MAIN();
