// `classify`, `similarity` and `embed --image` run as a user runs them on the fixture folders:
// their JSON, and bad images refused with exit status 2 and one line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";
const std::string kVit = kModels + "vit", kClip = kModels + "clip";
const std::string kImages = std::string(IA_FIXTURES_DIR) + "/images/";

TEST(CliVision, ClassifyPrintsTopLabels) {
  CliResult r = run_cli({"classify", "--model", kVit, kVit + "/image.png", "--top-k", "3"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("class_6"), std::string::npos) << r.out;  // the reference's top-1
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3);
  CliResult j = run_cli({"classify", "--model", kVit, kVit + "/image.png", "--json", "-k", "2"});
  ASSERT_EQ(j.status, 0) << j.err;
  nlohmann::json o = nlohmann::json::parse(j.out);
  EXPECT_EQ(o["logits"].size(), 10u);
  ASSERT_EQ(o["labels"].size(), 2u);
  EXPECT_EQ(o["labels"][0]["label"], "class_6");
  EXPECT_GE(o["labels"][0]["score"].get<double>(), o["labels"][1]["score"].get<double>());
  EXPECT_TRUE(o["timings"].contains("preprocess_ms"));
  // Several images: one object per line, each naming its image.
  CliResult two = run_cli({"classify", "-m", kVit, "--json", kVit + "/image.png", kImages + "jpeg_orientation6.jpg"});
  ASSERT_EQ(two.status, 0) << two.err;
  EXPECT_EQ(std::count(two.out.begin(), two.out.end(), '\n'), 2);
  EXPECT_NE(two.out.find("jpeg_orientation6.jpg"), std::string::npos);
}

TEST(CliVision, SimilarityAndImageEmbeddings) {
  CliResult r = run_cli({"similarity", "--model", kClip, "--image", kClip + "/image.png", "--text", "a photo of a cat",
                         "--text", "a diagram of a network", "--text", "colourful gradient"});
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json o = nlohmann::json::parse(r.out);
  ASSERT_EQ(o["logits_per_image"].size(), 1u);
  ASSERT_EQ(o["logits_per_image"][0].size(), 3u);
  ASSERT_EQ(o["text_embeds"].size(), 3u);
  ASSERT_EQ(o["image_embeds"].size(), 1u);
  double sum = 0;
  for (const auto& p : o["probs_per_image"][0]) sum += p.get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-5);
  CliResult e = run_cli({"embed", "--model", kClip, "--image", kClip + "/image.png"});
  ASSERT_EQ(e.status, 0) << e.err;
  nlohmann::json eo = nlohmann::json::parse(e.out);
  EXPECT_EQ(eo["dimensions"], 24);
  // embed --image gives similarity's image_embeds; embed of a text its text_embeds.
  for (size_t c = 0; c < 24; ++c)
    EXPECT_NEAR(eo["embeddings"][0][c].get<double>(), o["image_embeds"][0][c].get<double>(), 1e-6);
  CliResult t = run_cli({"embed", "--model", kClip, "a photo of a cat"});
  ASSERT_EQ(t.status, 0) << t.err;
  nlohmann::json to = nlohmann::json::parse(t.out);
  for (size_t c = 0; c < 24; ++c)
    EXPECT_NEAR(to["embeddings"][0][c].get<double>(), o["text_embeds"][0][c].get<double>(), 1e-6);
}

// Bad images: exit 2, one line naming the file and saying what is wrong, nothing on stdout.
TEST(CliVision, BadImagesAreUserErrors) {
  TempDir dir;
  const std::string empty = dir.path() + "/empty.png", text = dir.path() + "/notes.jpg", cut = dir.path() + "/cut.png",
                    bomb = dir.path() + "/bomb.png";
  write_file(empty, "");
  write_file(text, "this is not a picture\n");
  const std::string png = read_file(kVit + "/image.png");
  write_file(cut, png.substr(0, png.size() / 2));
  // The fixture PNG's header claiming 100000x100000 (its IHDR CRC fixed): refused from the header.
  std::string big = png;
  const unsigned char dims[8] = {0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0};
  std::memcpy(big.data() + 16, dims, 8);
  uint32_t c = 0xffffffffu;
  for (size_t i = 12; i < 29; ++i) {
    c ^= static_cast<unsigned char>(big[i]);
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  c ^= 0xffffffffu;
  for (int i = 0; i < 4; ++i) big[29 + static_cast<size_t>(i)] = static_cast<char>(c >> (24 - 8 * i));
  write_file(bomb, big);
  for (const auto& [file, needle] :
       {std::pair{empty, "empty"}, std::pair{text, "not an image"}, std::pair{cut, "truncated"},
        std::pair{bomb, "100000x100000"}, std::pair{dir.path() + "/missing.png", "no such file"}}) {
    SCOPED_TRACE(file);
    expect_user_error(run_cli({"classify", "--model", kVit, file}), needle);
    expect_user_error(run_cli({"embed", "--model", kClip, "--image", file}), needle);
    expect_user_error(run_cli({"similarity", "--model", kClip, "--image", file, "--text", "a cat"}), needle);
  }
  // A folder that is not of the kind the command needs.
  expect_user_error(run_cli({"classify", "--model", kClip, kVit + "/image.png"}), "not an image classifier");
  expect_user_error(run_cli({"similarity", "--model", kVit, "--image", kVit + "/image.png", "--text", "x"}),
                    "not an image-text model");
  expect_user_error(run_cli({"embed", "--model", kVit, "--image", kVit + "/image.png"}), "no image embeddings");
}

}  // namespace
}  // namespace ia::test
