#include "preprocess/image/image_processor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "preprocess/image/image_decoder.h"
#include "unit/preprocess/audio_test_util.h"
#include "unit/preprocess/image_test_util.h"

namespace ia::image {
namespace {

using test::expect_error;
using test::fixture_dir;
using test::TempDir;
using test::write_bytes;

// The fixture folders as a user's model folders: image.png decoded and preprocessed as the folder's
// processor config says, within 2e-2 of the pixel_values transformers wrote. The references come
// from transformers' torchvision backend (the default in transformers 5), whose resize differs
// from PIL's by a few 8-bit steps at most; ours follows PIL (the ...ImageProcessorPil backend).
void expect_fixture_pixels(const std::string& model, const std::string& type, int64_t h, int64_t w) {
  ImageProcessor p = ImageProcessor::load(fixture_dir(model), "ViTImageProcessor");
  EXPECT_EQ(p.config().type, type);
  DecodedImage d = decode_image_file(fixture_dir(model) + "/image.png");
  Tensor got = p.preprocess(d.image);
  Tensor want = test::reference_tensor(model, "pixel_values");
  ASSERT_EQ(shape_str(got.shape()), shape_str({3, h, w}));
  const double err = test::max_abs_diff(got, want.view({3, h, w}));
  std::printf("[ pixels   ] %s: max |pixel_values - transformers'| = %.3g\n", model.c_str(), err);
  EXPECT_LT(err, 2e-2);
}

TEST(ImageProcessor, VitFixtureMatchesTransformers) {
  expect_fixture_pixels("vit", "ViTImageProcessor", 32, 32);
}

TEST(ImageProcessor, ClipFixtureMatchesTransformers) {
  expect_fixture_pixels("clip", "CLIPImageProcessor", 32, 32);
}

TEST(ImageProcessor, ClipFixtureConfig) {
  ImageProcessor p = ImageProcessor::load(fixture_dir("clip"), "ViTImageProcessor");
  const ImageProcessorConfig& c = p.config();
  EXPECT_EQ(c.size.shortest_edge, 32);
  EXPECT_EQ(c.resample, Resample::Bicubic);
  EXPECT_TRUE(c.do_center_crop);
  EXPECT_EQ(c.crop_height, 32);
  EXPECT_FLOAT_EQ(c.image_mean[0], 0.48145466f);
  // 40x56 (h x w): the shortest edge to 32, the other int(32 * 56 / 40) = 44, then the 32x32 crop.
  EXPECT_EQ(p.resized_size(40, 56), (std::pair<int64_t, int64_t>{32, 44}));
  EXPECT_EQ(p.output_size(40, 56), (std::pair<int64_t, int64_t>{32, 32}));
}

TEST(ImageProcessor, DetrFixtureMatchesTransformers) {
  // 80x60: the shortest edge to 64, the longest int(64 * 80 / 60) = 85 (under the 96 cap).
  expect_fixture_pixels("detr", "DetrImageProcessor", 64, 85);
}

// transformers' size helpers, with Python's int() truncation and round() to even.
TEST(ImageProcessor, ShortestEdgeSizes) {
  EXPECT_EQ(shortest_edge_size(480, 640, 224, 0), (std::pair<int64_t, int64_t>{224, 298}));  // int(298.67)
  EXPECT_EQ(shortest_edge_size(640, 480, 224, 0), (std::pair<int64_t, int64_t>{298, 224}));
  EXPECT_EQ(shortest_edge_size(100, 100, 32, 0), (std::pair<int64_t, int64_t>{32, 32}));
  // DETR's 800 / 1333: a 480x640 image reaches 800 on its short side within the cap.
  EXPECT_EQ(shortest_edge_size(480, 640, 800, 1333), (std::pair<int64_t, int64_t>{800, 1066}));
  // A long panorama: the long side capped, the short side from the unrounded size.
  EXPECT_EQ(shortest_edge_size(100, 1000, 800, 1333), (std::pair<int64_t, int64_t>{133, 1333}));
  // Already at the size: unchanged.
  EXPECT_EQ(shortest_edge_size(800, 1000, 800, 1333), (std::pair<int64_t, int64_t>{800, 1000}));
}

HfConfig config_of(const std::string& json) {
  return HfConfig::from_json(nlohmann::json::parse(json), "preprocessor_config.json");
}

TEST(ImageProcessor, OldFeatureExtractorConfigsTakeIntSizes) {
  // openai/clip-vit-base-patch32 and google/vit-base-patch16-224 write sizes as ints.
  auto clip = ImageProcessorConfig::from(
      config_of(R"({"feature_extractor_type": "CLIPFeatureExtractor", "size": 224, "crop_size": 224})"), "");
  EXPECT_EQ(clip.type, "CLIPImageProcessor");
  EXPECT_EQ(clip.size.shortest_edge, 224);
  EXPECT_EQ(clip.crop_height, 224);
  EXPECT_EQ(clip.crop_width, 224);
  auto vit = ImageProcessorConfig::from(
      config_of(R"({"feature_extractor_type": "ViTFeatureExtractor", "size": 224, "resample": 2})"), "");
  EXPECT_EQ(vit.type, "ViTImageProcessor");
  EXPECT_EQ(vit.size.height, 224);
  EXPECT_EQ(vit.size.width, 224);
  EXPECT_FALSE(vit.do_center_crop);
  auto fast = ImageProcessorConfig::from(config_of(R"({"image_processor_type": "ViTImageProcessorFast"})"), "");
  EXPECT_EQ(fast.type, "ViTImageProcessor");
  EXPECT_EQ(fast.size.height, 224);
  EXPECT_FLOAT_EQ(fast.image_std[2], 0.5f);
}

TEST(ImageProcessor, DetrDefaultsLegacyMaxSizeAndPad) {
  ImageProcessorConfig d =
      ImageProcessorConfig::from(config_of(R"({"image_processor_type": "DetrImageProcessor"})"), "");
  EXPECT_EQ(d.size.shortest_edge, 800);
  EXPECT_EQ(d.size.longest_edge, 1333);
  EXPECT_TRUE(d.do_pad);
  EXPECT_FLOAT_EQ(d.image_std[0], 0.229f);
  // facebook/detr-resnet-50's preprocessor_config.json: an integer size and max_size.
  ImageProcessorConfig legacy = ImageProcessorConfig::from(
      config_of(R"({"feature_extractor_type": "DetrFeatureExtractor", "size": 800, "max_size": 1333})"), "");
  EXPECT_EQ(legacy.type, "DetrImageProcessor");
  EXPECT_EQ(legacy.size.shortest_edge, 800);
  EXPECT_EQ(legacy.size.longest_edge, 1333);
  ImageProcessor p(legacy);
  EXPECT_EQ(p.resized_size(480, 640), (std::pair<int64_t, int64_t>{800, 1066}));
  EXPECT_EQ(p.resized_size(300, 1200), (std::pair<int64_t, int64_t>{333, 1333}));  // the longest edge held
  // Two images padded at the bottom and right to the larger, zeros and a mask of the real pixels.
  Tensor a = Tensor::empty({3, 2, 3}, DType::F32), b = Tensor::empty({3, 3, 2}, DType::F32);
  for (int64_t i = 0; i < 18; ++i) {
    a.data<float>()[i] = static_cast<float>(i + 1);
    b.data<float>()[i] = -static_cast<float>(i + 1);
  }
  PaddedBatch batch = p.pad({a, b});
  ASSERT_EQ(shape_str(batch.pixel_values.shape()), shape_str({2, 3, 3, 3}));
  ASSERT_EQ(shape_str(batch.pixel_mask.shape()), shape_str({2, 3, 3}));
  const float* v = batch.pixel_values.data<float>();
  const int64_t* m = batch.pixel_mask.data<int64_t>();
  EXPECT_EQ(v[0 * 9 + 1 * 3 + 2], 6.0f);          // image a, channel 0, row 1, column 2
  EXPECT_EQ(v[0 * 9 + 2 * 3 + 0], 0.0f);          // its padded row
  EXPECT_EQ(v[(3 + 2) * 9 + 2 * 3 + 1], -18.0f);  // image b, channel 2, row 2, column 1
  EXPECT_EQ(v[(3 + 0) * 9 + 0 * 3 + 2], 0.0f);    // its padded column
  EXPECT_EQ((std::vector<int64_t>(m, m + 9)), (std::vector<int64_t>{1, 1, 1, 1, 1, 1, 0, 0, 0}));
  EXPECT_EQ((std::vector<int64_t>(m + 9, m + 18)), (std::vector<int64_t>{1, 1, 0, 1, 1, 0, 1, 1, 0}));
  // pad_size: a fixed canvas, and an image larger than it refused.
  ImageProcessor fixed(ImageProcessorConfig::from(
      config_of(R"({"image_processor_type": "DetrImageProcessor", "pad_size": {"height": 2, "width": 4}})"), ""));
  EXPECT_EQ(shape_str(fixed.pad({a}).pixel_values.shape()), shape_str({1, 3, 2, 4}));
  expect_error([&] { fixed.pad({b}); }, ErrorKind::InvalidArgument, {"pad_size"});
}

TEST(ImageProcessor, RefusesWhatItDoesNotImplement) {
  expect_error([] { ImageProcessorConfig::from(config_of(R"({"image_processor_type": "YolosImageProcessor"})"), ""); },
               ErrorKind::Unsupported, {"YolosImageProcessor", "not implemented"});
  expect_error([] { ImageProcessorConfig::from(config_of(R"({"size": {"max_height": 5}})"), "ViTImageProcessor"); },
               ErrorKind::Unsupported, {"max_height"});
  expect_error([] { ImageProcessorConfig::from(config_of(R"({"resample": 9})"), "ViTImageProcessor"); },
               ErrorKind::Corrupt, {"resample"});
  expect_error([] { ImageProcessorConfig::from(config_of(R"({"image_std": [1, 0, 1]})"), "ViTImageProcessor"); },
               ErrorKind::Corrupt, {"image_std"});
  expect_error(
      [] { ImageProcessorConfig::from(config_of(R"({"size": {"height": 0, "width": 3}})"), "ViTImageProcessor"); },
      ErrorKind::Corrupt, {"size"});
}

// processor_config.json's "image_processor" section, as transformers 5 writes a processor, wins
// over preprocessor_config.json.
TEST(ImageProcessor, ReadsProcessorConfigSection) {
  TempDir dir;
  write_bytes(dir.file("processor_config.json"),
              R"({"image_processor": {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 48},
                  "crop_size": {"height": 40, "width": 40}}, "processor_class": "CLIPProcessor"})");
  write_bytes(dir.file("preprocessor_config.json"), R"({"image_processor_type": "ViTImageProcessor"})");
  ImageProcessor p = ImageProcessor::load(dir.path(), "ViTImageProcessor");
  EXPECT_EQ(p.config().type, "CLIPImageProcessor");
  EXPECT_EQ(p.config().size.shortest_edge, 48);
  EXPECT_NE(p.config().path.find("processor_config.json:image_processor"), std::string::npos);
  TempDir empty;
  expect_error([&] { ImageProcessor::load(empty.path(), "ViTImageProcessor"); }, ErrorKind::NotFound,
               {"no image processor config"});
}

// Rescale in float64 then float32, normalize in float32, as the PIL backend computes it.
TEST(ImageProcessor, RescaleAndNormalizeArithmetic) {
  ImageProcessorConfig c = ImageProcessorConfig::from(config_of(R"({"do_resize": false})"), "CLIPImageProcessor");
  c.do_center_crop = false;
  ImageProcessor p(c);
  RgbImage im(2, 1);
  im.pixels = {0, 128, 255, 17, 200, 3};
  Tensor t = p.preprocess(im);
  ASSERT_EQ(shape_str(t.shape()), shape_str({3, 1, 2}));
  const float* v = t.data<float>();
  const uint8_t px[2][3] = {{0, 128, 255}, {17, 200, 3}};
  for (int ch = 0; ch < 3; ++ch)
    for (int x = 0; x < 2; ++x) {
      const float r = static_cast<float>(static_cast<double>(px[x][ch]) * (1.0 / 255.0));
      const float want = (r - c.image_mean[static_cast<size_t>(ch)]) / c.image_std[static_cast<size_t>(ch)];
      EXPECT_EQ(v[ch * 2 + x], want) << ch << "," << x;
    }
}

// numpy's center_crop: a window from floor((size - crop) / 2), zero-padded (in 8-bit space, before
// rescaling) where the image is smaller than the crop.
TEST(ImageProcessor, CenterCropPadsWithZeros) {
  ImageProcessorConfig c = ImageProcessorConfig::from(
      config_of(
          R"({"do_resize": false, "do_normalize": false, "do_rescale": false, "crop_size": {"height": 4, "width": 2}})"),
      "CLIPImageProcessor");
  ImageProcessor p(c);
  RgbImage im(5, 1);
  for (int x = 0; x < 5; ++x) im.row(0)[x * 3] = static_cast<uint8_t>(10 + x);
  Tensor t = p.preprocess(im);
  ASSERT_EQ(shape_str(t.shape()), shape_str({3, 4, 2}));
  const float* r = t.data<float>();
  // width 5 -> 2: left = (5 - 2) // 2 = 1; height 1 -> 4: rows -2..1 (floor(-3 / 2) = -2), the image
  // row two from the top, as numpy pads ceil(3 / 2) = 2 rows above it.
  const float want[4][2] = {{0, 0}, {0, 0}, {11, 12}, {0, 0}};
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 2; ++x) EXPECT_EQ(r[y * 2 + x], want[y][x]) << y << "," << x;
}

// Decode + preprocess of a 640x480 and a 3000x2000 JPEG to CLIP's 224x224 (bicubic, crop) and ViT's
// (bilinear): the time per image the docs report.
TEST(ImageProcessor, Timing224) {
  TempDir dir;
  for (auto [w, h, n] : {std::tuple{640, 480, 20}, std::tuple{3000, 2000, 2}}) {
    const std::string path = dir.file("photo.jpg");
    // Noise on the gradients, as a photo has, so the JPEG is not trivially smooth.
    RgbImage im = test::test_picture(w, h);
    uint32_t state = 1;
    for (auto& v : im.pixels) {
      state = state * 1664525u + 1013904223u;
      v = static_cast<uint8_t>(std::min(255, v + static_cast<int>(state >> 28)));
    }
    const auto bytes = test::write_jpeg(im, 90);
    write_bytes(path, std::string(bytes.begin(), bytes.end()));
    for (const char* type : {"ViTImageProcessor", "CLIPImageProcessor"}) {
      ImageProcessor p(ImageProcessorConfig::from(config_of("{}"), type));
      double decode_ms = 0, process_ms = 0;
      for (int i = 0; i < n; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        DecodedImage d = decode_image_file(path);
        auto t1 = std::chrono::steady_clock::now();
        Tensor px = p.preprocess(d.image);
        auto t2 = std::chrono::steady_clock::now();
        decode_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
        process_ms += std::chrono::duration<double, std::milli>(t2 - t1).count();
        ASSERT_EQ(px.size(1), 224);
      }
      std::printf("[ timing   ] %dx%d JPEG -> 224x224 (%s): decode %.2f ms, resize+crop+normalize %.2f ms per image\n",
                  w, h, type, decode_ms / n, process_ms / n);
    }
  }
}

}  // namespace
}  // namespace ia::image
