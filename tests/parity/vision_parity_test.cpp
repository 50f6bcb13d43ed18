// ViT and CLIP parity against transformers (tests/fixtures/models/{vit,clip}/reference.*), each
// folder loaded as a user's model folder, on the device IA_TEST_DEVICE names (the CPU by default).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "models/clip.h"
#include "models/vit.h"
#include "ops/ops.h"
#include "preprocess/image/image_decoder.h"
#include "preprocess/image/image_processor.h"
#include "runtime/image_endpoints.h"
#include "test_device.h"

namespace ia {
namespace {

std::string fixture(const std::string& name) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + name;
}

struct Reference {
  std::shared_ptr<SafetensorsFile> file;
  nlohmann::json meta;
  double atol = 0;
  Tensor get(const std::string& name) const { return file->tensor(name).contiguous(); }
};

Reference load_reference(const std::string& name) {
  Reference r;
  r.file = SafetensorsFile::open(fixture(name) + "/reference.safetensors");
  std::ifstream in(fixture(name) + "/reference.json");
  r.meta = nlohmann::json::parse(in);
  r.atol = r.meta["atol"].get<double>();
  return r;
}

double max_err(const Tensor& got, const Tensor& want) {
  Tensor g = got.device().is_cpu() ? got.contiguous() : ops::to_device(got, Device::cpu());
  EXPECT_EQ(g.numel(), want.numel()) << g.describe() << " vs " << want.describe();
  if (g.numel() != want.numel()) return INFINITY;
  std::vector<float> a = g.to_f32_vector(), b = want.to_f32_vector();
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, static_cast<double>(std::fabs(a[i] - b[i])));
  return e;
}

double max_err(const std::vector<std::vector<float>>& got, const Tensor& want) {
  std::vector<float> flat;
  for (const auto& r : got) flat.insert(flat.end(), r.begin(), r.end());
  return max_err(Tensor::from_vector(flat, {static_cast<int64_t>(flat.size())}), want);
}

image::RgbImage fixture_image(const std::string& name) {
  return image::decode_image_file(fixture(name) + "/image.png").image;
}

// The model on the reference's own pixel_values: logits and the last block's output (the
// reference's last_hidden_state is transformers' hidden_states[-1], before ViT's final layernorm)
// within atol.
TEST(VitParity, LogitsAndHiddenStatesFromReferencePixels) {
  Reference ref = load_reference("vit");
  auto ep = ImageClassificationEndpoint::load(fixture("vit"), test_device(), DType::F32);
  ImageClassifierOutput out = ep->model().forward(ref.get("pixel_values"));
  const double le = max_err(out.logits, ref.get("logits"));
  const double he = max_err(out.hidden_states, ref.get("last_hidden_state"));
  std::printf("[ vit      ] max |logits - ref| = %.3g, |last_hidden_state - ref| = %.3g (atol %.g)\n", le, he,
              ref.atol);
  EXPECT_LT(le, ref.atol);
  EXPECT_LT(he, ref.atol);
}

// The whole path a user takes: image.png decoded, preprocessed, classified.
TEST(VitParity, ClassifiesTheFixtureImage) {
  Reference ref = load_reference("vit");
  auto ep = ImageClassificationEndpoint::load(fixture("vit"), test_device(), DType::F32);
  EXPECT_EQ(ep->model().num_labels(), 10);
  EXPECT_EQ(ep->model().labels()[3], "class_3");
  ImageClassification r = ep->classify({fixture_image("vit")}, 3);
  ASSERT_EQ(r.logits.size(), 1u);
  ASSERT_EQ(r.top[0].size(), 3u);
  const int64_t top1 = ref.meta["top1"].get<int64_t>();
  EXPECT_EQ(r.top[0][0].id, top1);
  EXPECT_EQ(r.top[0][0].label, "class_" + std::to_string(top1));
  EXPECT_GE(r.top[0][0].score, r.top[0][1].score);
  // From our pixel_values (PIL's resize) rather than the reference's (torchvision's): the logits
  // move by what a step of 8-bit colour moves them.
  const double le = max_err(r.logits, ref.get("logits"));
  std::printf("[ vit      ] from image.png: max |logits - ref| = %.3g\n", le);
  EXPECT_LT(le, 0.05);
}

// Other input sizes interpolate the position table (as interpolate_pos_encoding=True); the
// checkpoint's own grid is its table unchanged, and a constant table stays constant.
TEST(VitParity, PositionInterpolation) {
  auto ep = ImageClassificationEndpoint::load(fixture("vit"), test_device(), DType::F32);
  Tensor px = Tensor::zeros({1, 3, 48, 40}, DType::F32);
  ImageClassifierOutput out = ep->model().forward(px);  // a 6x5 grid from the 4x4 one
  EXPECT_EQ(out.tokens_per_image, 31);
  EXPECT_EQ(out.logits.size(1), 10);
  for (float v : ops::to_device(out.logits, Device::cpu()).to_f32_vector()) EXPECT_TRUE(std::isfinite(v));
}

// The position table for another grid against torch's bicubic interpolate written out here in
// double (A = -0.75, align_corners=False, source index (o + 0.5) * in / out - 0.5, taps clamped).
TEST(VitParity, PositionTableResizesAsTorchBicubic) {
  auto ep = ImageClassificationEndpoint::load(fixture("vit"), Device::cpu(), DType::F32);
  const auto& tower = dynamic_cast<const VitForImageClassification&>(ep->model()).tower();
  Tensor own = SafetensorsFile::open(fixture("vit") + "/model.safetensors")
                   ->tensor("vit.embeddings.position_embeddings")
                   .contiguous();
  const int64_t H = 32, g = 4;
  EXPECT_EQ(max_err(tower.positions_for(g, g), own), 0.0);
  const float* src = own.data<float>();
  auto weights = [](double t, double w[4]) {
    const double A = -0.75;
    auto c1 = [&](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
    auto c2 = [&](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
    w[0] = c2(t + 1), w[1] = c1(t), w[2] = c1(1 - t), w[3] = c2(2 - t);
  };
  for (auto [gh, gw] : {std::pair<int64_t, int64_t>{6, 5}, {2, 8}, {3, 3}, {9, 4}}) {
    Tensor got = tower.positions_for(gh, gw);
    ASSERT_EQ(got.size(0), 1 + gh * gw);
    double err = 0;
    for (int64_t h = 0; h < H; ++h) EXPECT_EQ(got.data<float>()[h], src[h]);  // the class position kept
    for (int64_t oy = 0; oy < gh; ++oy)
      for (int64_t ox = 0; ox < gw; ++ox) {
        const double ry = (oy + 0.5) * g / gh - 0.5, rx = (ox + 0.5) * g / gw - 0.5;
        const double fy = std::floor(ry), fx = std::floor(rx);
        double wy[4], wx[4];
        weights(ry - fy, wy);
        weights(rx - fx, wx);
        for (int64_t h = 0; h < H; ++h) {
          double v = 0;
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
              const int64_t y = std::clamp<int64_t>(static_cast<int64_t>(fy) - 1 + i, 0, g - 1);
              const int64_t x = std::clamp<int64_t>(static_cast<int64_t>(fx) - 1 + j, 0, g - 1);
              v += wy[i] * wx[j] * src[(1 + y * g + x) * H + h];
            }
          err = std::max(err, std::fabs(v - got.data<float>()[(1 + oy * gw + ox) * H + h]));
        }
      }
    EXPECT_LT(err, 1e-5) << gh << "x" << gw;
  }
}

// tools/fixtures/make_vision_fixtures.py's references (made on the GPU machine): skipped until
// tests/fixtures/models/vision-extra exists.
bool have_vision_extra() {
  std::ifstream in(fixture("vision-extra") + "/reference.json");
  return static_cast<bool>(in);
}

TEST(VisionExtra, PilBackendPixelValuesExactly) {
  if (!have_vision_extra())
    GTEST_SKIP() << "no tests/fixtures/models/vision-extra (tools/fixtures/make_vision_fixtures.py)";
  Reference ref = load_reference("vision-extra");
  for (const char* m : {"vit", "clip"}) {
    auto p = image::ImageProcessor::load(fixture(m), "ViTImageProcessor");
    Tensor got = p.preprocess(fixture_image(m));
    const double e = max_err(got, ref.get(std::string(m) + "_pixel_values_pil"));
    std::printf("[ extra    ] %s: max |pixel_values - PIL backend's| = %.3g\n", m, e);
    EXPECT_LT(e, 1e-6) << m;
  }
}

TEST(VisionExtra, InterpolatedPositions) {
  if (!have_vision_extra())
    GTEST_SKIP() << "no tests/fixtures/models/vision-extra (tools/fixtures/make_vision_fixtures.py)";
  Reference ref = load_reference("vision-extra");
  auto v = ImageClassificationEndpoint::load(fixture("vit"), test_device(), DType::F32);
  const double le = max_err(v->model().forward(ref.get("interp_pixel_values")).logits, ref.get("vit_interp_logits"));
  auto c = ImageTextEndpoint::load(fixture("clip"), test_device(), DType::F32);
  const double fe = max_err(c->image_embeddings_of(ref.get("clip_interp_pixel_values"), false),
                            ref.get("clip_interp_image_features"));
  std::printf("[ extra    ] 48x40 input: vit max |logits - ref| = %.3g, clip max |image features - ref| = %.3g\n", le,
              fe);
  EXPECT_LT(le, ref.atol);
  EXPECT_LT(fe, ref.atol);
}

Reference clip_ref() {
  return load_reference("clip");
}

TEST(ClipParity, TokenizerGivesTheReferenceIds) {
  Reference ref = clip_ref();
  auto ep = ImageTextEndpoint::load(fixture("clip"), test_device(), DType::F32);
  auto texts = ref.meta["texts"].get<std::vector<std::string>>();
  Tensor ids = ref.get("input_ids"), mask = ref.get("attention_mask");
  const int64_t L = ids.size(1);
  auto enc = ep->tokenize(texts);
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int32_t> want;
    for (int64_t j = 0; j < L; ++j)
      if (mask.data<int64_t>()[static_cast<int64_t>(i) * L + j])
        want.push_back(static_cast<int32_t>(ids.data<int64_t>()[static_cast<int64_t>(i) * L + j]));
    EXPECT_EQ(enc[i].ids, want) << texts[i];
  }
}

TEST(ClipParity, EmbeddingsAndLogitsFromReferenceInputs) {
  Reference ref = clip_ref();
  auto ep = ImageTextEndpoint::load(fixture("clip"), test_device(), DType::F32);
  Tensor ids = ref.get("input_ids"), mask = ref.get("attention_mask");
  const int64_t S = ids.size(0), L = ids.size(1);
  std::vector<std::vector<int32_t>> texts(static_cast<size_t>(S));
  for (int64_t s = 0; s < S; ++s)
    for (int64_t j = 0; j < L; ++j)
      if (mask.data<int64_t>()[s * L + j])
        texts[static_cast<size_t>(s)].push_back(static_cast<int32_t>(ids.data<int64_t>()[s * L + j]));
  Tensor te = ep->text_embeddings_of_ids(texts, true);
  Tensor ie = ep->image_embeddings_of(ref.get("pixel_values"), true);
  const double tee = max_err(te, ref.get("text_embeds")), iee = max_err(ie, ref.get("image_embeds"));
  std::vector<float> logits;
  for (int64_t t = 0; t < S; ++t) {
    float dot = 0;
    for (int64_t c = 0; c < ie.size(1); ++c) dot += ie.data<float>()[c] * te.data<float>()[t * te.size(1) + c];
    logits.push_back(dot * ep->model().logit_scale());
  }
  const double le = max_err(Tensor::from_vector(logits, {1, S}), ref.get("logits_per_image"));
  std::printf(
      "[ clip     ] max |text_embeds - ref| = %.3g, |image_embeds - ref| = %.3g, |logits_per_image - ref| = %.3g\n",
      tee, iee, le);
  EXPECT_LT(tee, ref.atol);
  EXPECT_LT(iee, ref.atol);
  EXPECT_LT(le, ref.atol);
}

// The user's path: the texts tokenized here, image.png decoded and preprocessed here.
TEST(ClipParity, SimilarityFromTextsAndImage) {
  Reference ref = clip_ref();
  auto ep = ImageTextEndpoint::load(fixture("clip"), test_device(), DType::F32);
  auto texts = ref.meta["texts"].get<std::vector<std::string>>();
  ImageTextSimilarity r = ep->similarity({fixture_image("clip")}, texts);
  ASSERT_EQ(r.logits_per_image.size(), 1u);
  ASSERT_EQ(r.logits_per_image[0].size(), texts.size());
  const double tee = max_err(r.text_embeds, ref.get("text_embeds"));
  const double le = max_err(r.logits_per_image, ref.get("logits_per_image"));
  const double iee = max_err(r.image_embeds, ref.get("image_embeds"));
  std::printf("[ clip     ] from image.png: |text_embeds| %.3g, |image_embeds| %.3g, |logits_per_image| %.3g\n", tee,
              iee, le);
  EXPECT_LT(tee, ref.atol);
  EXPECT_LT(iee, 0.02);  // our pixel_values are PIL's, the reference's torchvision's
  EXPECT_LT(le, 0.1);
}

// bf16 weights (bf16 GEMMs with f32 accumulation, f32 norms and softmax): within bf16's rounding.
TEST(VisionParity, Bf16WeightsStayClose) {
  Reference vit = load_reference("vit");
  auto v = ImageClassificationEndpoint::load(fixture("vit"), test_device(), DType::BF16);
  const double le = max_err(v->model().forward(vit.get("pixel_values")).logits, vit.get("logits"));
  Reference clip = clip_ref();
  auto c = ImageTextEndpoint::load(fixture("clip"), test_device(), DType::BF16);
  const double ie = max_err(c->image_embeddings_of(clip.get("pixel_values"), true), clip.get("image_embeds"));
  std::printf("[ bf16     ] vit max |logits - ref| = %.3g, clip max |image_embeds - ref| = %.3g\n", le, ie);
  EXPECT_LT(le, 0.05);
  EXPECT_LT(ie, 0.05);
}

TEST(ClipParity, PoolsAtTheEndOfTextToken) {
  auto ep = ImageTextEndpoint::load(fixture("clip"), Device::cpu(), DType::F32);
  const auto& clip = dynamic_cast<const ClipModel&>(ep->model());
  std::vector<int32_t> ids = {0, 5, 9, 1, 1, 1};  // eos_token_id 1: its first occurrence
  EXPECT_EQ(clip.pooled_position(ids), 3);
  std::vector<int32_t> none = {0, 5, 9};
  EXPECT_EQ(clip.pooled_position(none), 0);
}

}  // namespace
}  // namespace ia
