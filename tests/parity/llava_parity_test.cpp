// LLaVA and LLaVA-NeXT parity against transformers (tests/fixtures/models/{llava,llava_next}), each
// folder loaded as a user's model folder, on the device IA_TEST_DEVICE names (the CPU by default):
// the expanded input_ids identical to the processor's, pixel_values within 2e-2 (our PIL-backend
// resize against the reference's torchvision one), the image features and every prompt logit
// within atol_logits on the reference's pixel_values, and the greedy ids of the whole pipeline
// (image file, processor, features, KV-cached generation) identical to greedy_ids.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/llava.h"
#include "models/model_registry.h"
#include "ops/ops.h"
#include "preprocess/image/image_decoder.h"
#include "runtime/generation.h"
#include "runtime/step_runner.h"
#include "runtime/vision_prompt.h"
#include "test_device.h"

namespace ia {
namespace {

std::string fixture(const std::string& name) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + name;
}

double max_err(const Tensor& got, const Tensor& want) {
  Tensor g = got.device().is_cpu() ? got.contiguous() : ops::to_device(got, Device::cpu());
  EXPECT_EQ(g.numel(), want.numel()) << g.describe() << " vs " << want.describe();
  if (g.numel() != want.numel()) return INFINITY;
  std::vector<float> a = g.to_f32_vector(), b = want.contiguous().to_f32_vector();
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, static_cast<double>(std::fabs(a[i] - b[i])));
  return e;
}

class LlavaParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = fixture(GetParam());
    std::ifstream f(dir_ + "/reference.json");
    ref_ = nlohmann::json::parse(f);
    refs_ = SafetensorsFile::open(dir_ + "/reference.safetensors");
    const HfConfig config = HfConfig::load(dir_);
    auto weights = WeightStore::open(dir_);
    std::shared_ptr<const CausalLM> lm = load_causal_lm(config, *weights, DType::F32, test_device());
    model_ = std::dynamic_pointer_cast<const LlavaModel>(lm);
    ASSERT_NE(model_, nullptr);
    auto tok = tok::Tokenizer::from_folder(dir_);
    prompter_ = VisionPrompter::load(dir_, model_, tok);
    gen_ = std::make_shared<Generator>(lm, tok, GenerationDefaults::load(dir_, lm->config()));
  }
  const nlohmann::json& generation() const { return ref_["generations"][0]; }
  Tensor ref(const std::string& name) const { return refs_->tensor(name).contiguous(); }
  std::vector<int32_t> ref_ids() const { return generation()["input_ids"].get<std::vector<int32_t>>(); }
  // The reference's pixel_values as the model takes one image: [crops, 3, H, W] and its size.
  ImagePixels ref_pixels() const {
    Tensor px = ref("prompt0_pixel_values");
    if (px.dim() == 5) px = px.view({px.size(1), px.size(2), px.size(3), px.size(4)});
    ImagePixels p{px, 0, 0};
    const image::RgbImage im = image::decode_image_file(dir_ + "/" + generation()["image"].get<std::string>()).image;
    p.height = im.height;
    p.width = im.width;
    return p;
  }
  // The prompt's image features from the reference's pixel values, placed at its image tokens.
  std::shared_ptr<PromptImages> ref_images(const std::vector<int32_t>& ids) const {
    auto pi = std::make_shared<PromptImages>();
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] == model_->image_token_id()) pi->positions.push_back(static_cast<int64_t>(i));
    pi->features = model_->embed_images({ref_pixels()});
    pi->image_hashes = {1};
    pi->image_tokens = {static_cast<int64_t>(pi->positions.size())};
    return pi;
  }

  std::string dir_;
  nlohmann::json ref_;
  std::shared_ptr<SafetensorsFile> refs_;
  std::shared_ptr<const LlavaModel> model_;
  std::shared_ptr<VisionPrompter> prompter_;
  std::shared_ptr<Generator> gen_;
};

TEST_P(LlavaParity, ProcessorExpandsPromptAndPixels) {
  const image::RgbImage im = image::decode_image_file(dir_ + "/" + generation()["image"].get<std::string>()).image;
  const VisionPromptInput in = prompter_->prepare(generation()["prompt"].get<std::string>(), {im});
  EXPECT_EQ(in.ids, ref_ids());
  ASSERT_EQ(in.pixels.size(), 1u);
  const double pe = max_err(in.pixels[0].pixel_values, ref("prompt0_pixel_values"));
  std::printf("[ %-8s ] max |pixel_values - ref| = %.3g (2e-2)\n", GetParam().c_str(), pe);
  EXPECT_LT(pe, 2e-2);
  if (refs_->has("prompt0_image_sizes")) {
    Tensor sizes = ref("prompt0_image_sizes").to(DType::I64);
    EXPECT_EQ(sizes.data<int64_t>()[0], im.height);
    EXPECT_EQ(sizes.data<int64_t>()[1], im.width);
  }
}

TEST_P(LlavaParity, ImageFeaturesAndPromptLogitsFromReferencePixels) {
  const double atol = ref_["atol_logits"].get<double>();
  const std::vector<int32_t> ids = ref_ids();
  auto images = ref_images(ids);
  if (refs_->has("image_features")) {
    const double fe = max_err(images->features, ref("image_features"));
    std::printf("[ %-8s ] max |image_features - ref| = %.3g (atol %.g)\n", GetParam().c_str(), fe, atol);
    EXPECT_LT(fe, atol);
  }
  auto cache = model_->make_cache((static_cast<int64_t>(ids.size()) + 15) / 16, 16);
  const int64_t seq = cache->create_sequence();
  SeqChunk chunk{seq, ids, -1, images.get()};
  const Tensor logits = CausalStepRunner(*model_).step({chunk}, *cache, OutputRows::All);
  const double le = max_err(logits, ref("prompt0_logits"));
  std::printf("[ %-8s ] max |prompt logits - ref| = %.3g (atol %.g)\n", GetParam().c_str(), le, atol);
  EXPECT_LT(le, atol);
}

TEST_P(LlavaParity, GreedyIdsThroughThePipeline) {
  const image::RgbImage im = image::decode_image_file(dir_ + "/" + generation()["image"].get<std::string>()).image;
  const VisionPromptInput in = prompter_->prepare(generation()["prompt"].get<std::string>(), {im});
  GenerationRequest req;
  req.temperature = 0.0f;
  req.max_new_tokens = static_cast<int64_t>(generation()["greedy_ids"].size());
  req.ignore_eos = true;
  const auto out = gen_->generate_ids({in.ids}, req, {}, nullptr, {in.images});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ids, generation()["greedy_ids"].get<std::vector<int32_t>>());
}

// Prefill in chunks that split the image tokens gives the logits of one whole prefill: each chunk
// takes the image rows of the positions it covers.
TEST_P(LlavaParity, ChunkedPrefillSplitsImageRows) {
  const std::vector<int32_t> ids = ref_ids();
  auto images = ref_images(ids);
  auto cache = model_->make_cache((static_cast<int64_t>(ids.size()) + 15) / 16, 16);
  const int64_t seq = cache->create_sequence();
  CausalStepRunner runner(*model_);
  const size_t cut = static_cast<size_t>(images->positions[images->positions.size() / 2]);
  const std::span<const int32_t> all(ids);
  runner.step({SeqChunk{seq, all.first(cut), -1, images.get()}}, *cache, OutputRows::All);
  const Tensor rest = runner.step({SeqChunk{seq, all.subspan(cut), -1, images.get()}}, *cache, OutputRows::All);
  const Tensor want =
      ref("prompt0_logits").narrow(0, static_cast<int64_t>(cut), static_cast<int64_t>(ids.size() - cut));
  EXPECT_LT(max_err(rest, want), ref_["atol_logits"].get<double>());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LlavaParity, ::testing::Values("llava", "llava_next"));

}  // namespace
}  // namespace ia
