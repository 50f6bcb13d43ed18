// Quantized decoders (--quantize, docs/quantization.md) against the same fixture run in f32:
// int8 keeps greedy decoding on the shared fixtures (at least 20 of 24 tokens equal on every
// prompt), and every method keeps the next-token distributions close along f32's continuation
// (teacher-forced top-1 agreement and KL divergence within the stated tolerances). Always on
// the CPU: the CUDA backend has no packed linears yet.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/quantization.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "greedy_steps.h"
#include "models/decoder_lm.h"
#include "runtime/next_token_comparison.h"
#include "runtime/step_runner.h"

namespace ia {
namespace {

std::string fixture(const std::string& family) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + family;
}

std::string param_name(const ::testing::TestParamInfo<const char*>& info) {
  std::string name = info.param;
  for (char& ch : name)
    if (ch == '-') ch = '_';
  return name;
}

std::unique_ptr<DecoderLM> load(const std::string& dir, const std::string& method) {
  auto weights = WeightStore::open(dir);
  weights->set_quantization(weight_quantization(method));
  return DecoderLM::load(HfConfig::load(dir), *weights, DType::F32, Device::cpu());
}

class QuantizedDecoder : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = fixture(GetParam());
    std::ifstream f(dir_ + "/reference.json");
    const auto ref = nlohmann::json::parse(f);
    for (const auto& g : ref["generations"]) prompts_.push_back(g["input_ids"].get<std::vector<int32_t>>());
    f32_ = load(dir_, "none");
  }
  // The shared tree's fixtures (HF's init), as opposed to make_decoder_fixtures.py's variants.
  bool shared_fixture() const {
    const std::string p = GetParam();
    return p == "gpt2" || p == "llama" || p == "qwen2";
  }
  std::string dir_;
  std::vector<std::vector<int32_t>> prompts_;
  std::unique_ptr<DecoderLM> f32_;
};

// The shared fixtures (make_fixtures.py: HF's init, gpt2 / llama / qwen2) hold int8 to the
// issue's bar: greedy ids equal to f32's for at least 20 of 24 tokens on every prompt.
TEST_P(QuantizedDecoder, Int8KeepsGreedyTokens) {
  if (!shared_fixture()) GTEST_SKIP() << "held to teacher-forced tolerances (see below)";
  auto q8 = load(dir_, "int8");
  // Packed: the weights one decode step streams shrink (to about a quarter at hidden 64; at
  // hidden 32 rows pad to 64 inputs).
  EXPECT_LT(q8->weight_bytes_per_token(), f32_->weight_bytes_per_token() * 0.6);
  for (size_t i = 0; i < prompts_.size(); ++i) {
    const auto want = parity::greedy_steps(*f32_, prompts_[i], 24), got = parity::greedy_steps(*q8, prompts_[i], 24);
    int same = 0;
    for (size_t t = 0; t < want.size(); ++t) same += got[t] == want[t];
    std::cout << "[ quant    ] " << GetParam() << " int8 prompt " << i << ": " << same
              << " of 24 greedy tokens equal\n";
    EXPECT_GE(same, 20) << GetParam() << " prompt " << i;
  }
}

// Teacher-forced along f32's greedy continuation of each prompt: the share of positions whose
// top-1 token is f32's and the mean KL(f32 || quantized) of the next-token distributions, per
// method, within the tolerances docs/quantization.md states. The variant fixtures
// (make_decoder_fixtures.py: init range 0.2 and every parameter perturbed, top-2 gaps down to
// 1e-3 by construction) are far peakier and less structured than a trained model: even bf16
// weights flip their greedy path (decoder_parity_test checks bf16's first token only), so they
// are held to these measures rather than to greedy equality.
TEST_P(QuantizedDecoder, NextTokenDistributionsStayClose) {
  struct Bound {
    const char* method;
    double min_top1_shared, max_kl_shared, min_top1_variant, max_kl_variant;
  };
  const Bound bounds[] = {
      {"int8", 0.9, 1e-3, 0.8, 0.02}, {"q4", 0.75, 0.01, 0.15, 0.6}, {"q4z_128", 0.75, 0.01, 0.5, 0.1}};
  const int64_t context = f32_->config().max_positions;
  for (const Bound& b : bounds) {
    auto q = load(dir_, b.method);
    for (size_t i = 0; i < prompts_.size(); ++i) {
      std::vector<int32_t> ids = prompts_[i];
      const auto cont = parity::greedy_steps(*f32_, prompts_[i], 24);
      ids.insert(ids.end(), cont.begin(), cont.end());
      const int64_t window = std::min<int64_t>(static_cast<int64_t>(ids.size()), context);
      const NextTokenComparison r = compare_next_tokens(*f32_, *q, ids, window);
      std::cout << "[ quant    ] " << GetParam() << " " << b.method << " prompt " << i << ": top-1 " << r.top1_agreement
                << ", KL mean " << r.kl_mean << " max " << r.kl_max << "\n";
      EXPECT_GE(r.top1_agreement, shared_fixture() ? b.min_top1_shared : b.min_top1_variant)
          << GetParam() << " " << b.method << " prompt " << i;
      EXPECT_LE(r.kl_mean, shared_fixture() ? b.max_kl_shared : b.max_kl_variant)
          << GetParam() << " " << b.method << " prompt " << i;
      EXPECT_GT(r.kl_max, 0.0) << "quantization changed nothing: " << GetParam() << " " << b.method;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, QuantizedDecoder,
                         ::testing::Values("gpt2", "llama", "qwen2", "qwen3", "mistral", "llama-rope-linear",
                                           "llama-rope-llama3", "llama-rope-yarn", "llama-rope-dynamic", "llama-bias"),
                         param_name);

TEST(NextTokenComparison, SameModelIsZeroAndBadWindowsAreRefused) {
  auto m = load(fixture("llama"), "none");
  const std::vector<int32_t> ids = {1, 5, 9, 13, 17, 21, 25};
  const NextTokenComparison r = compare_next_tokens(*m, *m, ids, 4);
  EXPECT_EQ(r.windows, 2);
  EXPECT_EQ(r.positions, 3 + 2);  // windows [0, 4) and [4, 7): 3 and 2 predictions
  EXPECT_EQ(r.kl_max, 0.0);
  EXPECT_EQ(r.top1_agreement, 1.0);
  EXPECT_DOUBLE_EQ(r.perplexity, r.base_perplexity);
  EXPECT_GT(r.perplexity, 1.0);
  EXPECT_THROW(compare_next_tokens(*m, *m, ids, 1), Error);
  EXPECT_THROW(compare_next_tokens(*m, *m, std::vector<int32_t>{1}, 4), Error);
}

}  // namespace
}  // namespace ia
