// A decoder's whole-prompt step without a KV cache (CausalLM::forward_prompt, what an
// embedding model built on a decoder runs): every prompt of a fixture packed into one
// step gives transformers' full-prompt logits (reference prompt{i}_logits) within
// atol_logits, across positions (learned, rope variants) and sliding windows; with
// StepOutput::HiddenStates it gives the final-norm rows instead, the same batched or alone.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/decoder_lm.h"
#include "ops/ops.h"
#include "runtime/step_builder.h"
#include "test_device.h"

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

class DecoderPromptStep : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = fixture(GetParam());
    std::ifstream f(dir_ + "/reference.json");
    ref_ = nlohmann::json::parse(f);
    weights_ = WeightStore::open(dir_);
    model_ = DecoderLM::load(HfConfig::load(dir_), *weights_, DType::F32, test_device());
    refs_ = SafetensorsFile::open(dir_ + "/reference.safetensors");
    for (size_t i = 0; i < ref_["generations"].size(); ++i) {
      Tensor t = refs_->tensor(fmt::format("prompt{}_input_ids", i)).to(DType::I64);
      std::vector<int32_t> v;
      for (int64_t k = 0; k < t.numel(); ++k) v.push_back(static_cast<int32_t>(t.data<int64_t>()[k]));
      prompts_.push_back(std::move(v));
    }
  }
  Tensor run(const std::vector<std::vector<int32_t>>& prompts, StepOutput output) const {
    StepBuilder builder(test_device());
    std::vector<std::span<const int32_t>> ids;
    for (const auto& p : prompts) ids.emplace_back(p);
    StepInputs step = builder.encoder_step(ids, {}, model_->config().vocab_size);
    step.output = output;
    return ops::to_device(model_->forward_prompt(step), Device::cpu());  // the rows, on the host
  }
  std::string dir_;
  nlohmann::json ref_;
  std::shared_ptr<WeightStore> weights_;
  std::unique_ptr<DecoderLM> model_;
  std::shared_ptr<SafetensorsFile> refs_;
  std::vector<std::vector<int32_t>> prompts_;
};

TEST_P(DecoderPromptStep, PackedPromptsGiveTransformersLogits) {
  const double atol = ref_["atol_logits"].get<double>();
  Tensor logits = run(prompts_, StepOutput::Logits);
  const int64_t V = model_->config().vocab_size;
  int64_t row = 0;
  for (size_t i = 0; i < prompts_.size(); ++i) {
    Tensor want = refs_->tensor(fmt::format("prompt{}_logits", i));
    const auto n = static_cast<int64_t>(prompts_[i].size());
    ASSERT_EQ(want.numel(), n * V);
    double worst = 0;
    for (int64_t k = 0; k < n * V; ++k)
      worst = std::max(worst, std::fabs(double(logits.data<float>()[row * V + k]) - want.data<float>()[k]));
    EXPECT_LE(worst, atol) << GetParam() << " prompt " << i;
    row += n;
  }
  EXPECT_EQ(row, logits.size(0));
}

TEST_P(DecoderPromptStep, HiddenStatesBatchedEqualAlone) {
  Tensor all = run(prompts_, StepOutput::HiddenStates);
  const int64_t H = model_->config().hidden_size;
  ASSERT_EQ(all.size(1), H);
  int64_t row = 0;
  for (const auto& p : prompts_) {
    Tensor one = run({p}, StepOutput::HiddenStates);
    ASSERT_EQ(one.size(0), static_cast<int64_t>(p.size()));
    for (int64_t k = 0; k < one.numel(); ++k)
      EXPECT_NEAR(one.data<float>()[k], all.data<float>()[row * H + k], 1e-5) << GetParam();
    row += static_cast<int64_t>(p.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DecoderPromptStep,
                         ::testing::Values("gpt2", "llama", "qwen2", "qwen3", "mistral", "llama-bias",
                                           "llama-rope-linear", "llama-rope-llama3", "llama-rope-yarn"),
                         param_name);

}  // namespace
}  // namespace ia
