// Decoder parity against transformers fixtures (tests/fixtures/models/{gpt2,
// llama,qwen2}): full-prompt logits within reference.json's atol_logits, and
// the 24 greedy tokens of every prompt identical to greedy_ids, token by token
// with the paged KV cache, and with all prompts run together as one batch.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/decoder.h"
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

class DecoderParity : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = fixture(GetParam());
    ref_ = reference(GetParam());
    weights_ = WeightStore::open(dir_);
    model_ = Decoder::load(HfConfig::load(dir_), *weights_, DType::F32, Device::cpu());
    refs_ = SafetensorsFile::open(dir_ + "/reference.safetensors");
  }
  std::vector<int32_t> prompt_ids(size_t i) const {
    Tensor t = refs_->tensor(fmt::format("prompt{}_input_ids", i)).to(DType::I64);
    std::vector<int32_t> v;
    for (int64_t k = 0; k < t.numel(); ++k) v.push_back(static_cast<int32_t>(t.data<int64_t>()[k]));
    return v;
  }
  std::string dir_;
  nlohmann::json ref_;
  std::shared_ptr<WeightStore> weights_;
  std::unique_ptr<Decoder> model_;
  std::shared_ptr<SafetensorsFile> refs_;
};

TEST_P(DecoderParity, PromptIdsMatchTokenizer) {
  auto tok = tok::Tokenizer::from_folder(dir_);
  for (size_t i = 0; i < ref_["generations"].size(); ++i) {
    auto enc = tok->encode(ref_["generations"][i]["prompt"].get<std::string>());
    EXPECT_EQ(enc.ids, prompt_ids(i)) << "prompt " << i;
  }
}

TEST_P(DecoderParity, FullPromptLogits) {
  const double atol = ref_["atol_logits"].get<double>();
  for (size_t i = 0; i < ref_["generations"].size(); ++i) {
    std::vector<int32_t> ids = prompt_ids(i);
    auto cache = model_->make_cache(16, 16);
    const int64_t seq = cache->create_sequence();
    Tensor logits = model_->forward({SeqChunk{seq, ids}}, *cache, /*all_logits=*/true);
    Tensor want = refs_->tensor(fmt::format("prompt{}_logits", i));
    ASSERT_EQ(logits.shape(), want.shape());
    double worst = 0;
    for (int64_t k = 0; k < want.numel(); ++k)
      worst = std::max(worst, std::fabs(static_cast<double>(logits.data<float>()[k]) - want.data<float>()[k]));
    EXPECT_LE(worst, atol) << GetParam() << " prompt " << i;
    std::cout << "[ parity   ] " << GetParam() << " prompt " << i << " max |logit diff| " << worst << " (atol " << atol
              << ")\n";
  }
}

// Greedy decoding of `prompts` together (one batch) with the paged cache.
std::vector<std::vector<int32_t>> greedy(const Decoder& model, const std::vector<std::vector<int32_t>>& prompts,
                                         int steps) {
  auto cache = model.make_cache(64, 4);  // small blocks: sequences span several, interleaved
  std::vector<int64_t> seqs;
  std::vector<SeqChunk> chunks;
  for (const auto& p : prompts) {
    seqs.push_back(cache->create_sequence());
    chunks.push_back(SeqChunk{seqs.back(), p});
  }
  std::vector<std::vector<int32_t>> out(prompts.size());
  Tensor logits = model.forward(chunks, *cache);
  for (int step = 0; step < steps; ++step) {
    for (size_t s = 0; s < prompts.size(); ++s) out[s].push_back(argmax_row(logits, static_cast<int64_t>(s)));
    if (step + 1 == steps) break;
    chunks.clear();
    for (size_t s = 0; s < prompts.size(); ++s)
      chunks.push_back(SeqChunk{seqs[s], std::span<const int32_t>(&out[s].back(), 1)});
    logits = model.forward(chunks, *cache);
  }
  return out;
}

TEST_P(DecoderParity, GreedyWithKvCache) {
  for (size_t i = 0; i < ref_["generations"].size(); ++i) {
    auto want = ref_["generations"][i]["greedy_ids"].get<std::vector<int32_t>>();
    auto got = greedy(*model_, {prompt_ids(i)}, static_cast<int>(want.size()));
    EXPECT_EQ(got[0], want) << GetParam() << " prompt " << i;
  }
}

TEST_P(DecoderParity, GreedyAsOneBatch) {
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < ref_["generations"].size(); ++i) prompts.push_back(prompt_ids(i));
  auto got = greedy(*model_, prompts, 24);
  for (size_t i = 0; i < prompts.size(); ++i)
    EXPECT_EQ(got[i], ref_["generations"][i]["greedy_ids"].get<std::vector<int32_t>>())
        << GetParam() << " prompt " << i;
}

TEST_P(DecoderParity, Bf16WeightsStayClose) {
  // bf16 weights are not bit-exact; the greedy path should still mostly agree.
  auto m = Decoder::load(HfConfig::load(dir_), *weights_, DType::BF16, Device::cpu());
  auto want = ref_["generations"][0]["greedy_ids"].get<std::vector<int32_t>>();
  auto got = greedy(*m, {prompt_ids(0)}, 4);
  EXPECT_EQ(got[0][0], want[0]);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DecoderParity, ::testing::Values("gpt2", "llama", "qwen2"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

}  // namespace
}  // namespace ia
