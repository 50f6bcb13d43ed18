// `similarity --video` with the X-CLIP fixture as a user runs it: a folder of frames and a video
// file written here with FFmpeg's FFV1 encoder (lossless, so both give the same numbers), and bad
// videos refused with exit status 2 and one line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"
#include "preprocess/image/image_decoder.h"
#include "unit/preprocess/video_test_util.h"

namespace ia::test {
namespace {

const std::string kXClip = std::string(IA_FIXTURES_DIR) + "/models/xclip";
const std::string kClip = std::string(IA_FIXTURES_DIR) + "/models/clip";

std::vector<std::string> similarity_args(const std::string& video) {
  return {"similarity", "--model",          kXClip,   "--video",     video, "--text", "a moving gradient",
          "--text",     "a person cooking", "--text", "static noise"};
}

TEST(CliVideo, SimilarityOfFramesAndOfAVideoFile) {
  CliResult r = run_cli(similarity_args(kXClip + "/frames"));
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json o = nlohmann::json::parse(r.out);
  ASSERT_EQ(o["logits_per_video"].size(), 1u);
  ASSERT_EQ(o["logits_per_video"][0].size(), 3u);
  ASSERT_EQ(o["text_embeds"].size(), 1u);
  ASSERT_EQ(o["text_embeds"][0].size(), 3u);
  EXPECT_EQ(o["text_embeds"][0][0].size(), 24u);
  ASSERT_EQ(o["video_embeds"].size(), 1u);
  EXPECT_EQ(o["video_embeds"][0].size(), 24u);
  EXPECT_EQ(o["videos"][0]["format"], "frames");
  EXPECT_EQ(o["videos"][0]["frame_indices"], nlohmann::json::array({0, 1, 2, 3}));
  double sum = 0;
  for (const auto& p : o["probs_per_video"][0]) sum += p.get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-5);

  // The same four frames as an FFV1 video in Matroska, and eight frames of which the evenly
  // spaced four (0, 2, 4, 6) are those: the same logits.
  TempDir dir;
  std::vector<image::RgbImage> frames;
  for (int i = 0; i < 4; ++i)
    frames.push_back(image::decode_image_file(kXClip + "/frames/00" + std::to_string(i) + ".png").image);
  write_test_video(dir.path() + "/four.mkv", frames, "ffv1");
  std::vector<image::RgbImage> eight;
  for (const auto& f : frames) {
    eight.push_back(f);
    eight.push_back(test_frame(f.width, f.height, 99));
  }
  write_test_video(dir.path() + "/eight.avi", eight, "ffv1");
  for (const std::string file : {"four.mkv", "eight.avi"}) {
    SCOPED_TRACE(file);
    CliResult v = run_cli(similarity_args(dir.path() + "/" + file));
    ASSERT_EQ(v.status, 0) << v.err;
    nlohmann::json vo = nlohmann::json::parse(v.out);
    EXPECT_EQ(vo["videos"][0]["codec"], "ffv1");
    for (size_t t = 0; t < 3; ++t)
      EXPECT_NEAR(vo["logits_per_video"][0][t].get<double>(), o["logits_per_video"][0][t].get<double>(), 1e-5);
  }
}

// Bad videos and arguments: exit 2, one line naming what is wrong, nothing on stdout.
// FFmpeg's libraries are loaded when the first video is decoded (ffmpeg_library.h): where they
// cannot be loaded (here: stand-ins of no bytes earlier on the library path), a folder of frames
// still works and a video file is one line naming the libraries, exit 2.
TEST(CliVideo, WithoutFfmpegsLibrariesAVideoIsOneLineAndFramesStillWork) {
  TempDir libs;
  for (const std::string& name : {"libavutil.so." + std::to_string(LIBAVUTIL_VERSION_MAJOR),
                                  "libavcodec.so." + std::to_string(LIBAVCODEC_VERSION_MAJOR),
                                  "libavformat.so." + std::to_string(LIBAVFORMAT_VERSION_MAJOR),
                                  "libswscale.so." + std::to_string(LIBSWSCALE_VERSION_MAJOR)})
    write_file(libs.path() + "/" + name, "");  // the sonames of the headers, as ffmpeg_library.cpp asks
  const char* old = std::getenv("LD_LIBRARY_PATH");
  const std::string saved = old ? old : "";
  setenv("LD_LIBRARY_PATH", libs.path().c_str(), 1);
  TempDir dir;
  std::vector<image::RgbImage> frames;
  for (int i = 0; i < 4; ++i) frames.push_back(test_frame(32, 24, i));
  write_test_video(dir.path() + "/four.mkv", frames, "ffv1");  // in this process, FFmpeg linked
  const CliResult video = run_cli(similarity_args(dir.path() + "/four.mkv"));
  const CliResult folder = run_cli(similarity_args(kXClip + "/frames"));
  if (old) {
    setenv("LD_LIBRARY_PATH", saved.c_str(), 1);
  } else {
    unsetenv("LD_LIBRARY_PATH");
  }
  expect_user_error(video, "video decoding needs FFmpeg's libraries");
  EXPECT_EQ(folder.status, 0) << folder.err;
}

TEST(CliVideo, BadVideosAreUserErrors) {
  TempDir dir;
  const std::string empty = dir.path() + "/empty.mp4", text = dir.path() + "/notes.webm", cut = dir.path() + "/cut.mkv";
  write_file(empty, "");
  write_file(text, "this is not a video\n");
  std::vector<image::RgbImage> frames;
  for (int i = 0; i < 6; ++i) frames.push_back(test_frame(40, 32, i));
  write_test_video(dir.path() + "/good.mkv", frames, "ffv1");
  write_file(cut, read_file(dir.path() + "/good.mkv").substr(0, 60));
  for (const auto& [file, needle] :
       {std::pair{empty, "empty"}, std::pair{text, "not a video file"}, std::pair{cut, "cut.mkv"},
        std::pair{dir.path() + "/missing.mp4", "no such file"}, std::pair{dir.path(), "no frame images"}}) {
    SCOPED_TRACE(file);
    expect_user_error(run_cli(similarity_args(file)), needle);
  }
  expect_user_error(run_cli({"similarity", "--model", kXClip, "--text", "x"}), "--image, --video or --audio");
  expect_user_error(run_cli({"similarity", "--model", kXClip, "--video", kXClip + "/frames", "--image",
                             kXClip + "/frames/000.png", "--text", "x"}),
                    "excludes");
  expect_user_error(run_cli({"similarity", "--model", kClip, "--video", kXClip + "/frames", "--text", "x"}),
                    "not a video-text model");
  expect_user_error(run_cli({"similarity", "--model", kXClip, "--image", kXClip + "/frames/000.png", "--text", "x"}),
                    "similarity --video");
}

}  // namespace
}  // namespace ia::test
