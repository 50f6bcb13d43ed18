// Decoder parity against transformers fixtures: tests/fixtures/models/{gpt2,
// llama,qwen2} (the shared make_fixtures.py) and qwen3, mistral, llama-rope-*,
// llama-bias (tools/fixtures/make_decoder_fixtures.py). Full-prompt logits
// within reference.json's atol_logits, and the 24 greedy tokens of every
// prompt identical to HF's, token by token with the paged KV cache, and with
// all prompts run together as one batch. rope_cases.json pins the rotary
// frequencies of config corner cases to what transformers computes.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/decoder_config.h"
#include "models/decoder_lm.h"
#include "models/rope.h"
#include "runtime/step_runner.h"
#include "test_device.h"
#include "tokenizers/tokenizer.h"

namespace ia {
namespace {

std::string fixture(const std::string& family) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + family;
}

nlohmann::json reference(const std::string& family) {
  std::ifstream f(fixture(family) + "/reference.json");
  return nlohmann::json::parse(f);
}

int32_t argmax_row(const Tensor& logits, int64_t row) {
  const int64_t V = logits.size(1);
  const float* p = logits.data<float>() + row * V;
  int64_t best = 0;
  for (int64_t j = 1; j < V; ++j)
    if (p[j] > p[best]) best = j;  // first maximum, as torch.argmax
  return static_cast<int32_t>(best);
}

// gtest names allow [A-Za-z0-9_] only: llama-rope-yarn -> llama_rope_yarn.
std::string param_name(const ::testing::TestParamInfo<const char*>& info) {
  std::string name = info.param;
  for (char& ch : name)
    if (ch == '-') ch = '_';
  return name;
}

class DecoderParity : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = fixture(GetParam());
    ref_ = reference(GetParam());
    weights_ = WeightStore::open(dir_);
    model_ = DecoderLM::load(HfConfig::load(dir_), *weights_, DType::F32, test_device());
    refs_ = SafetensorsFile::open(dir_ + "/reference.safetensors");
  }
  std::vector<int32_t> ids(const std::string& name) const {
    Tensor t = refs_->tensor(name).to(DType::I64);
    std::vector<int32_t> v;
    for (int64_t k = 0; k < t.numel(); ++k) v.push_back(static_cast<int32_t>(t.data<int64_t>()[k]));
    return v;
  }
  std::vector<int32_t> prompt_ids(size_t i) const { return ids(fmt::format("prompt{}_input_ids", i)); }
  // What a KV-cache greedy run must give: HF's cached path where the fixture
  // records it (it differs from full recompute for dynamic rope only), else
  // greedy_ids (full recompute, equal to the cached path for every other type).
  std::vector<int32_t> cached_greedy(size_t i) const {
    const auto& g = ref_["generations"][i];
    return (g.contains("greedy_ids_cached") ? g["greedy_ids_cached"] : g["greedy_ids"]).get<std::vector<int32_t>>();
  }
  std::string dir_;
  nlohmann::json ref_;
  std::shared_ptr<WeightStore> weights_;
  std::unique_ptr<DecoderLM> model_;
  std::shared_ptr<SafetensorsFile> refs_;
};

TEST_P(DecoderParity, PromptIdsMatchTokenizer) {
  auto tok = tok::Tokenizer::from_folder(dir_);
  for (size_t i = 0; i < ref_["generations"].size(); ++i) {
    auto enc = tok->encode(ref_["generations"][i]["prompt"].get<std::string>());
    EXPECT_EQ(enc.ids, prompt_ids(i)) << "prompt " << i;
  }
}

double max_abs_diff(const Tensor& got, const Tensor& want) {
  double worst = 0;
  for (int64_t k = 0; k < want.numel(); ++k)
    worst = std::max(worst, std::fabs(static_cast<double>(got.data<float>()[k]) - want.data<float>()[k]));
  return worst;
}

// All logits of `ids` in one forward from an empty cache.
Tensor full_logits(const CausalLM& model, const std::vector<int32_t>& ids) {
  auto cache = model.make_cache((static_cast<int64_t>(ids.size()) + 15) / 16, 16);
  const int64_t seq = cache->create_sequence();
  return CausalStepRunner(model).step({SeqChunk{seq, ids}}, *cache, OutputRows::All);
}

TEST_P(DecoderParity, FullPromptLogits) {
  const double atol = ref_["atol_logits"].get<double>();
  for (size_t i = 0; i < ref_["generations"].size(); ++i) {
    Tensor logits = full_logits(*model_, prompt_ids(i));
    Tensor want = refs_->tensor(fmt::format("prompt{}_logits", i));
    ASSERT_EQ(logits.shape(), want.shape());
    const double worst = max_abs_diff(logits, want);
    EXPECT_LE(worst, atol) << GetParam() << " prompt " << i;
    std::cout << "[ parity   ] " << GetParam() << " prompt " << i << " max |logit diff| " << worst << " (atol " << atol
              << ")\n";
  }
}

// Greedy decoding of `prompts` together (one batch) with the paged cache.
std::vector<std::vector<int32_t>> greedy(const CausalLM& model, const std::vector<std::vector<int32_t>>& prompts,
                                         int steps) {
  auto cache = model.make_cache(64, 4);  // small blocks: sequences span several, interleaved
  std::vector<int64_t> seqs;
  std::vector<SeqChunk> chunks;
  for (const auto& p : prompts) {
    seqs.push_back(cache->create_sequence());
    chunks.push_back(SeqChunk{seqs.back(), p});
  }
  std::vector<std::vector<int32_t>> out(prompts.size());
  CausalStepRunner runner(model);
  Tensor logits = runner.step(chunks, *cache);
  for (int step = 0; step < steps; ++step) {
    for (size_t s = 0; s < prompts.size(); ++s) out[s].push_back(argmax_row(logits, static_cast<int64_t>(s)));
    if (step + 1 == steps) break;
    chunks.clear();
    for (size_t s = 0; s < prompts.size(); ++s)
      chunks.push_back(SeqChunk{seqs[s], std::span<const int32_t>(&out[s].back(), 1)});
    logits = runner.step(chunks, *cache);
  }
  return out;
}

TEST_P(DecoderParity, GreedyWithKvCache) {
  for (size_t i = 0; i < ref_["generations"].size(); ++i) {
    auto want = cached_greedy(i);
    auto got = greedy(*model_, {prompt_ids(i)}, static_cast<int>(want.size()));
    EXPECT_EQ(got[0], want) << GetParam() << " prompt " << i;
  }
}

TEST_P(DecoderParity, GreedyAsOneBatch) {
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < ref_["generations"].size(); ++i) prompts.push_back(prompt_ids(i));
  auto got = greedy(*model_, prompts, 24);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(got[i], cached_greedy(i)) << GetParam() << " prompt " << i;
}

// Full recompute: the whole sequence through a fresh cache at every step, as
// greedy_ids was made. For every rope type but dynamic it is the cached path's
// answer too; for dynamic it rescales every position for the current length.
TEST_P(DecoderParity, GreedyFullRecompute) {
  for (size_t i = 0; i < ref_["generations"].size(); ++i) {
    auto want = ref_["generations"][i]["greedy_ids"].get<std::vector<int32_t>>();
    std::vector<int32_t> seq = prompt_ids(i);
    std::vector<int32_t> got;
    for (size_t step = 0; step < want.size(); ++step) {
      Tensor logits = full_logits(*model_, seq);
      got.push_back(argmax_row(logits, logits.size(0) - 1));
      seq.push_back(got.back());
    }
    EXPECT_EQ(got, want) << GetParam() << " prompt " << i;
  }
}

// Dynamic rope only (llama-rope-dynamic): logits of prompt + greedy_ids in one
// forward, past max_position_embeddings (the NTK base grown for the whole
// length), and the logits of each step of HF's cached path.
class DynamicRopeParity : public DecoderParity {};

TEST_P(DynamicRopeParity, LongSequenceLogits) {
  const double atol = ref_["atol_logits"].get<double>();
  for (size_t i = 0; i < ref_["generations"].size(); ++i) {
    std::vector<int32_t> seq = ids(fmt::format("long{}_input_ids", i));
    ASSERT_GT(static_cast<int64_t>(seq.size()), model_->config().max_positions);
    Tensor want = refs_->tensor(fmt::format("long{}_logits", i));
    Tensor logits = full_logits(*model_, seq);
    ASSERT_EQ(logits.shape(), want.shape());
    const double worst = max_abs_diff(logits, want);
    EXPECT_LE(worst, atol) << GetParam() << " long " << i;
    std::cout << "[ parity   ] " << GetParam() << " long " << i << " (" << seq.size() << " tokens) max |logit diff| "
              << worst << " (atol " << atol << ")\n";
  }
}

TEST_P(DynamicRopeParity, CachedStepLogits) {
  const double atol = ref_["atol_logits"].get<double>();
  for (size_t i = 0; i < ref_["generations"].size(); ++i) {
    std::vector<int32_t> prompt = prompt_ids(i), gen = cached_greedy(i);
    Tensor want = refs_->tensor(fmt::format("cached{}_logits", i));  // [steps, V]: the logits each token came from
    ASSERT_EQ(want.size(0), static_cast<int64_t>(gen.size()));
    auto cache = model_->make_cache(64, 4);
    const int64_t seq = cache->create_sequence();
    Tensor logits = CausalStepRunner(*model_).step({SeqChunk{seq, prompt}}, *cache);
    const int64_t V = want.size(1);
    double worst = 0;
    for (int64_t step = 0; step < want.size(0); ++step) {
      for (int64_t k = 0; k < V; ++k)
        worst =
            std::max(worst, std::fabs(static_cast<double>(logits.data<float>()[k]) - want.data<float>()[step * V + k]));
      if (step + 1 == want.size(0)) break;
      logits = CausalStepRunner(*model_).step(
          {SeqChunk{seq, std::span<const int32_t>(&gen[static_cast<size_t>(step)], 1)}}, *cache);
    }
    EXPECT_LE(worst, atol) << GetParam() << " prompt " << i;
    std::cout << "[ parity   ] " << GetParam() << " cached steps of prompt " << i << " max |logit diff| " << worst
              << " (atol " << atol << ")\n";
  }
}

TEST_P(DecoderParity, Bf16WeightsStayClose) {
  // bf16 weights are not bit-exact; the greedy path should still mostly agree.
  auto m = DecoderLM::load(HfConfig::load(dir_), *weights_, DType::BF16, test_device());
  auto want = ref_["generations"][0]["greedy_ids"].get<std::vector<int32_t>>();
  auto got = greedy(*m, {prompt_ids(0)}, 4);
  EXPECT_EQ(got[0][0], want[0]);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DecoderParity,
                         ::testing::Values("gpt2", "llama", "qwen2", "qwen3", "mistral", "llama-rope-linear",
                                           "llama-rope-llama3", "llama-rope-yarn", "llama-rope-dynamic", "llama-bias"),
                         param_name);
INSTANTIATE_TEST_SUITE_P(Fixtures, DynamicRopeParity, ::testing::Values("llama-rope-dynamic"), param_name);

// Rotary frequencies of config.json corner cases (old and new key styles,
// defaults, yarn's explicit factor, dynamic growth) against the inv_freq and
// attention scaling transformers' rotary embedding holds for the same config.
TEST(RopeCases, MatchTransformers) {
  std::ifstream f(std::string(IA_FIXTURES_DIR) + "/models/rope_cases.json");
  ASSERT_TRUE(f.good()) << "no tests/fixtures/models/rope_cases.json";
  const nlohmann::json cases = nlohmann::json::parse(f);
  ASSERT_FALSE(cases["cases"].empty());
  for (const auto& c : cases["cases"]) {
    const std::string name = c["name"].get<std::string>();
    if (c.contains("error")) {
      ADD_FAILURE() << name << ": transformers failed on this case: " << c["error"];
      continue;
    }
    const DecoderConfig cfg = DecoderConfig::from(HfConfig::from_json(c["config"], name));
    const int64_t seq_len = c.value("seq_len", cfg.max_positions);
    const RopeFrequencies got = rope_frequencies(cfg.rope, cfg.max_positions, seq_len);
    const auto want = c["inv_freq"].get<std::vector<double>>();
    ASSERT_EQ(got.inv_freq.size(), want.size()) << name;
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, std::fabs(got.inv_freq[i] - want[i]) / std::fabs(want[i]));
    EXPECT_LE(worst, 2e-6) << name << ": inv_freq max relative diff";
    EXPECT_NEAR(got.attention_scaling, c["attention_scaling"].get<double>(), 1e-6) << name;
    std::cout << "[ parity   ] rope case " << name << ": inv_freq max rel diff " << worst << ", attention scaling "
              << got.attention_scaling << " (want " << c["attention_scaling"].get<double>() << ")\n";
  }
}

}  // namespace
}  // namespace ia
