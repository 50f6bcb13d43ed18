// `detect` run as a user runs it on the detr fixture folder: its text and JSON, the threshold, and
// bad input (images, folders, thresholds, timm checkpoints) refused with exit status 2 and one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";
const std::string kDetr = kModels + "detr", kVit = kModels + "vit";
const std::string kImages = std::string(IA_FIXTURES_DIR) + "/images/";

TEST(CliDetect, PrintsDetectionsAboveTheThreshold) {
  // The fixture's random model scores every query about 0.21 "cat" (reference.json).
  CliResult r = run_cli({"detect", "--model", kDetr, kDetr + "/image.png", "--threshold", "0.1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 8) << r.out;
  EXPECT_NE(r.out.find("  cat  ["), std::string::npos) << r.out;
  CliResult j = run_cli({"detect", "-m", kDetr, kDetr + "/image.png", "--json", "-t", "0"});
  ASSERT_EQ(j.status, 0) << j.err;
  nlohmann::json o = nlohmann::json::parse(j.out);
  EXPECT_EQ(o["width"], 80);
  EXPECT_EQ(o["height"], 60);
  ASSERT_EQ(o["detections"].size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    const auto& d = o["detections"][i];
    EXPECT_EQ(d["label"], "cat");
    ASSERT_EQ(d["box"].size(), 4u);
    EXPECT_LT(d["box"][0].get<double>(), d["box"][2].get<double>());
    EXPECT_LT(d["box"][1].get<double>(), d["box"][3].get<double>());
    if (i > 0) {
      EXPECT_GE(o["detections"][i - 1]["score"].get<double>(), d["score"].get<double>());
    }
  }
  EXPECT_TRUE(o["timings"].contains("inference_ms"));
  // The default threshold (0.5) keeps none of them; several images give one object each, named.
  CliResult none = run_cli({"detect", "-m", kDetr, kDetr + "/image.png"});
  ASSERT_EQ(none.status, 0) << none.err;
  EXPECT_EQ(none.out, "");
  CliResult two = run_cli({"detect", "-m", kDetr, "--json", kDetr + "/image.png", kImages + "jpeg_orientation6.jpg"});
  ASSERT_EQ(two.status, 0) << two.err;
  EXPECT_EQ(std::count(two.out.begin(), two.out.end(), '\n'), 2);
  EXPECT_NE(two.out.find("jpeg_orientation6.jpg"), std::string::npos);
}

TEST(CliDetect, BadInputIsAUserError) {
  TempDir dir;
  const std::string empty = dir.path() + "/empty.png", text = dir.path() + "/notes.jpg";
  write_file(empty, "");
  write_file(text, "this is not a picture\n");
  expect_user_error(run_cli({"detect", "--model", kDetr, empty}), "empty");
  expect_user_error(run_cli({"detect", "--model", kDetr, text}), "not an image");
  expect_user_error(run_cli({"detect", "--model", kDetr, dir.path() + "/missing.png"}), "no such file");
  expect_user_error(run_cli({"detect", "--model", kDetr, kDetr + "/image.png", "--threshold", "1.5"}), "threshold");
  expect_user_error(run_cli({"detect", "--model", kVit, kDetr + "/image.png"}), "not an object detector");
  // A timm-backbone checkpoint (facebook/detr-resnet-50's layout) is refused by name.
  const std::string timm = dir.path() + "/timm";
  std::filesystem::create_directories(timm);
  std::string config = read_file(kDetr + "/config.json");
  config.insert(config.find('{') + 1, "\n  \"use_timm_backbone\": true,");
  write_file(timm + "/config.json", config);
  std::filesystem::copy_file(kDetr + "/model.safetensors", timm + "/model.safetensors");
  std::filesystem::copy_file(kDetr + "/preprocessor_config.json", timm + "/preprocessor_config.json");
  expect_user_error(run_cli({"detect", "--model", timm, kDetr + "/image.png"}), "timm backbone");
}

}  // namespace
}  // namespace ia::test
