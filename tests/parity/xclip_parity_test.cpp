// X-CLIP parity against transformers (tests/fixtures/models/xclip/reference.*: XCLIPModel on one
// video of four frames and three texts), the folder loaded as a user's model folder, on the device
// IA_TEST_DEVICE names (the CPU by default).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "models/xclip.h"
#include "ops/ops.h"
#include "preprocess/image/image_decoder.h"
#include "runtime/video_endpoints.h"
#include "test_device.h"

namespace ia {
namespace {

std::string xclip_dir() {
  return std::string(IA_FIXTURES_DIR) + "/models/xclip";
}

struct Reference {
  std::shared_ptr<SafetensorsFile> file;
  nlohmann::json meta;
  double atol = 0;
  Tensor get(const std::string& name) const { return file->tensor(name).contiguous(); }
};

Reference load_reference() {
  Reference r;
  r.file = SafetensorsFile::open(xclip_dir() + "/reference.safetensors");
  std::ifstream in(xclip_dir() + "/reference.json");
  r.meta = nlohmann::json::parse(in);
  r.atol = r.meta["atol"].get<double>();
  return r;
}

double max_err(const std::vector<float>& a, const Tensor& want) {
  std::vector<float> b = want.to_f32_vector();
  EXPECT_EQ(a.size(), b.size());
  if (a.size() != b.size()) return INFINITY;
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, static_cast<double>(std::fabs(a[i] - b[i])));
  return e;
}

std::vector<float> flat(const std::vector<std::vector<float>>& m) {
  std::vector<float> out;
  for (const auto& r : m) out.insert(out.end(), r.begin(), r.end());
  return out;
}

std::vector<float> flat(const std::vector<std::vector<std::vector<float>>>& m) {
  std::vector<float> out;
  for (const auto& r : m)
    for (const auto& c : r) out.insert(out.end(), c.begin(), c.end());
  return out;
}

// The reference's input_ids without their padding.
std::vector<std::vector<int32_t>> reference_ids(const Reference& ref) {
  Tensor ids = ref.get("input_ids"), mask = ref.get("attention_mask");
  const int64_t S = ids.size(0), L = ids.size(1);
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(S));
  for (int64_t s = 0; s < S; ++s)
    for (int64_t j = 0; j < L; ++j)
      if (mask.data<int64_t>()[s * L + j])
        out[static_cast<size_t>(s)].push_back(static_cast<int32_t>(ids.data<int64_t>()[s * L + j]));
  return out;
}

std::vector<image::RgbImage> fixture_frames(const Reference& ref) {
  std::vector<image::RgbImage> frames;
  for (const auto& f : ref.meta["frames"])
    frames.push_back(image::decode_image_file(xclip_dir() + "/" + f.get<std::string>()).image);
  return frames;
}

TEST(XClipParity, TokenizerGivesTheReferenceIds) {
  Reference ref = load_reference();
  auto ep = VideoTextEndpoint::load(xclip_dir(), test_device(), DType::F32);
  auto texts = ref.meta["texts"].get<std::vector<std::string>>();
  auto want = reference_ids(ref);
  auto enc = ep->tokenize(texts);
  ASSERT_EQ(enc.size(), want.size());
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(enc[i].ids, want[i]) << texts[i];
}

TEST(XClipParity, EmbeddingsAndLogitsFromReferenceInputs) {
  Reference ref = load_reference();
  auto ep = VideoTextEndpoint::load(xclip_dir(), test_device(), DType::F32);
  Tensor px = ref.get("pixel_values");  // [1, frames, 3, H, W]
  px = px.view({px.size(0) * px.size(1), px.size(2), px.size(3), px.size(4)});
  VideoTextSimilarity r = ep->similarity_of(px, reference_ids(ref));
  const double te = max_err(flat(r.text_embeds), ref.get("text_embeds"));
  const double ve = max_err(flat(r.video_embeds), ref.get("video_embeds"));
  const double le = max_err(flat(r.logits_per_video), ref.get("logits_per_video"));
  std::printf(
      "[ xclip    ] max |text_embeds - ref| = %.3g, |video_embeds - ref| = %.3g, |logits_per_video - ref| = %.3g\n", te,
      ve, le);
  EXPECT_LE(te, ref.atol);
  EXPECT_LE(ve, ref.atol);
  EXPECT_LE(le, ref.atol);
}

TEST(XClipParity, SimilarityFromTheFrameFiles) {
  Reference ref = load_reference();
  auto ep = VideoTextEndpoint::load(xclip_dir(), test_device(), DType::F32);
  std::vector<image::RgbImage> frames = fixture_frames(ref);
  // Our PIL-exact processor against the reference's torchvision one: within one step of 8-bit
  // colour over ImageNet's std (docs/vision.md).
  Tensor px = ep->pixel_values(frames);
  const double pe = max_err(px.to_f32_vector(), ref.get("pixel_values"));
  EXPECT_LE(pe, 2e-2);
  VideoTextSimilarity r = ep->similarity({frames}, ref.meta["texts"].get<std::vector<std::string>>());
  const double le = max_err(flat(r.logits_per_video), ref.get("logits_per_video"));
  const double ve = max_err(flat(r.video_embeds), ref.get("video_embeds"));
  std::printf("[ xclip    ] from frames/: |pixel_values| %.3g, |video_embeds| %.3g, |logits_per_video| %.3g\n", pe, ve,
              le);
  EXPECT_LE(ve, 1e-2);
  EXPECT_LE(le, 5e-2);
  // The texts rank as the reference ranks them.
  const auto& got = r.logits_per_video[0];
  std::vector<float> want = ref.get("logits_per_video").to_f32_vector();
  EXPECT_EQ(std::max_element(got.begin(), got.end()) - got.begin(),
            std::max_element(want.begin(), want.end()) - want.begin());
}

TEST(XClipParity, Bf16WeightsStayClose) {
  Reference ref = load_reference();
  auto ep = VideoTextEndpoint::load(xclip_dir(), test_device(), DType::BF16);
  Tensor px = ref.get("pixel_values");
  px = px.view({px.size(0) * px.size(1), px.size(2), px.size(3), px.size(4)});
  VideoTextSimilarity r = ep->similarity_of(px, reference_ids(ref));
  const double ve = max_err(flat(r.video_embeds), ref.get("video_embeds"));
  const double le = max_err(flat(r.logits_per_video), ref.get("logits_per_video"));
  std::printf("[ bf16     ] xclip max |video_embeds - ref| = %.3g, |logits_per_video - ref| = %.3g\n", ve, le);
  EXPECT_LE(ve, 2e-2);
  EXPECT_LE(le, 0.1);
}

TEST(XClipParity, PoolsAtTheLargestId) {
  auto ep = VideoTextEndpoint::load(xclip_dir(), Device::cpu(), DType::F32);
  const auto& m = dynamic_cast<const XClipModel&>(ep->model());
  const std::vector<int32_t> ids = {0, 5, 650, 7, 1};  // XCLIPTextTransformer pools at argmax, not at eos (1)
  EXPECT_EQ(m.text().pooled_position(ids), 2);
}

TEST(XClipParity, RefusesAWrongFrameCount) {
  Reference ref = load_reference();
  auto ep = VideoTextEndpoint::load(xclip_dir(), Device::cpu(), DType::F32);
  std::vector<image::RgbImage> frames = fixture_frames(ref);
  frames.pop_back();
  try {
    (void)ep->pixel_values(frames);
    FAIL() << "three frames accepted by a four-frame model";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("num_frames"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ia
