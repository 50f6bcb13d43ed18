// DETR parity against transformers (tests/fixtures/models/detr/reference.*): the folder loaded as a
// user's model folder, on the device IA_TEST_DEVICE names (the CPU by default). The reference holds
// DetrImageProcessor's pixel_values and pixel_mask, DetrForObjectDetection's logits and pred_boxes,
// and post_process_object_detection's detections (threshold 0, boxes in pixels, sorted by score).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "preprocess/image/image_decoder.h"
#include "preprocess/image/image_processor.h"
#include "runtime/object_detection.h"
#include "test_device.h"

namespace ia {
namespace {

std::string fixture() {
  return std::string(IA_FIXTURES_DIR) + "/models/detr";
}

struct Reference {
  std::shared_ptr<SafetensorsFile> file;
  nlohmann::json meta;
  Tensor get(const std::string& name) const { return file->tensor(name).contiguous(); }
};

Reference load_reference() {
  Reference r;
  r.file = SafetensorsFile::open(fixture() + "/reference.safetensors");
  std::ifstream in(fixture() + "/reference.json");
  r.meta = nlohmann::json::parse(in);
  return r;
}

double max_err(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.numel(), want.numel()) << got.describe() << " vs " << want.describe();
  if (got.numel() != want.numel()) return INFINITY;
  std::vector<float> a = got.contiguous().to_f32_vector(), b = want.to_f32_vector();
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, static_cast<double>(std::fabs(a[i] - b[i])));
  return e;
}

// The detections of reference.json against ours: the same labels in the same order, scores
// within atol, boxes within 1e-2 pixels.
void expect_reference_detections(const std::vector<Detection>& got, const nlohmann::json& want, double atol) {
  ASSERT_EQ(got.size(), want.size());
  double box_err = 0, score_err = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].label, want[i]["label"].get<std::string>()) << "detection " << i;
    score_err = std::max(score_err, std::fabs(got[i].score - want[i]["score"].get<double>()));
    for (size_t k = 0; k < 4; ++k)
      box_err = std::max(box_err, std::fabs(got[i].box[k] - want[i]["box"][k].get<double>()));
  }
  std::printf("[ detr     ] %zu detections in order; max |score - ref| = %.3g, |box - ref| = %.3g px\n", got.size(),
              score_err, box_err);
  EXPECT_LT(score_err, atol);
  EXPECT_LT(box_err, 1e-2);
}

// The model on the reference's own pixel_values: logits within atol, boxes within atol_boxes,
// and the post-processed detections identical in labels and order.
TEST(DetrParity, LogitsBoxesAndDetectionsFromReferencePixels) {
  Reference ref = load_reference();
  const double atol = ref.meta["atol"].get<double>(), atol_boxes = ref.meta["atol_boxes"].get<double>();
  auto ep = ObjectDetectionEndpoint::load(fixture(), test_device(), DType::F32);
  EXPECT_EQ(ep->model().num_queries(), 8);
  EXPECT_EQ(ep->model().labels(), (std::vector<std::string>{"cat", "dog", "person", "car", "tree"}));
  // A pixel mask of ones: the reference image is alone in its batch, so nothing is padded.
  for (float v : ref.get("pixel_mask").to(DType::F32).to_f32_vector()) ASSERT_EQ(v, 1.0f);
  ObjectDetectorOutput out = ep->model().forward({ref.get("pixel_values")});
  ASSERT_EQ(out.feature_sizes.size(), 1u);
  const double le = max_err(out.logits, ref.get("logits"));
  const double be = max_err(out.pred_boxes, ref.get("pred_boxes"));
  std::printf("[ detr     ] max |logits - ref| = %.3g (atol %.g), |pred_boxes - ref| = %.3g (atol %.g)\n", le, atol, be,
              atol_boxes);
  EXPECT_LT(le, atol);
  EXPECT_LT(be, atol_boxes);
  image::RgbImage im = image::decode_image_file(fixture() + "/image.png").image;
  std::vector<Detection> d = post_process_object_detection(out.logits.select(0, 0), out.pred_boxes.select(0, 0), 0.0f,
                                                           im.height, im.width, ep->model().labels());
  expect_reference_detections(d, ref.meta["detections"], atol);
}

// Two images of different sizes in one call: each gets exactly what it gets alone (each image
// runs unpadded through the backbone; their rows are packed, never mixed, in the transformer).
TEST(DetrParity, ImagesOfDifferentSizesInOneCallMatchEachAlone) {
  Reference ref = load_reference();
  auto ep = ObjectDetectionEndpoint::load(fixture(), test_device(), DType::F32);
  Tensor a = ref.get("pixel_values");
  Tensor b = a.narrow(3, 10, 60).narrow(2, 3, 50).contiguous();  // a 50x60 crop
  ObjectDetectorOutput both = ep->model().forward({a, b});
  ObjectDetectorOutput alone_a = ep->model().forward({a}), alone_b = ep->model().forward({b});
  EXPECT_LT(max_err(both.logits.select(0, 0), alone_a.logits.select(0, 0)), 1e-5);
  EXPECT_LT(max_err(both.pred_boxes.select(0, 0), alone_a.pred_boxes.select(0, 0)), 1e-5);
  EXPECT_LT(max_err(both.logits.select(0, 1), alone_b.logits.select(0, 0)), 1e-5);
  EXPECT_LT(max_err(both.pred_boxes.select(0, 1), alone_b.pred_boxes.select(0, 0)), 1e-5);
  // Different inputs, different answers: the second image is not a copy of the first.
  EXPECT_GT(max_err(both.logits.select(0, 1), both.logits.select(0, 0)), 1e-4);
}

// The path a user takes: image.png decoded, DetrImageProcessor's pixel_values (within 2e-2 of
// transformers', the bound the issue sets for PIL-vs-torchvision resize rounding), detected.
TEST(DetrParity, DetectsInTheFixtureImage) {
  Reference ref = load_reference();
  auto ep = ObjectDetectionEndpoint::load(fixture(), test_device(), DType::F32);
  image::RgbImage im = image::decode_image_file(fixture() + "/image.png").image;
  Tensor px = ep->processor().preprocess(im);
  const double pe = max_err(px, ref.get("pixel_values"));
  std::printf("[ detr     ] max |pixel_values - ref| = %.3g\n", pe);
  EXPECT_LT(pe, 2e-2);
  image::PaddedBatch batch = ep->processor().pad({px});
  EXPECT_EQ(max_err(batch.pixel_mask.to(DType::F32), ref.get("pixel_mask").to(DType::F32)), 0.0);
  ObjectDetectionResult r = ep->detect({im}, 0.0f);
  ASSERT_EQ(r.detections.size(), 1u);
  // Our pixel_values equal the reference's to f32 rounding here, so even this random model's
  // close scores (within 4e-6 of each other in places) rank as transformers ranks them.
  expect_reference_detections(r.detections[0], ref.meta["detections"], ref.meta["atol"].get<double>());
  // The threshold drops what is not above it.
  EXPECT_TRUE(ep->detect({im}, 0.5f).detections[0].empty());
}

}  // namespace
}  // namespace ia
