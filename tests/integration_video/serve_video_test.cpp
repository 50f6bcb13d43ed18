// `serve` with the X-CLIP fixture and video files written here with FFmpeg's FFV1 encoder:
// /zero-shot-video-classification from a multipart upload and from a video data URL, equal to
// `similarity --video` on the same file; bad videos are 400s naming the upload; without FFmpeg's
// libraries a video file is a 503 naming them while frames still work.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "integration/cli_runner.h"
#include "integration/serve_client.h"
#include "preprocess/image/image_decoder.h"
#include "unit/preprocess/video_test_util.h"

namespace ia::test {
namespace {

using nlohmann::json;

const std::string kXClip = std::string(IA_FIXTURES_DIR) + "/models/xclip";
const std::vector<std::string> kLabels{"a moving gradient", "a person cooking", "static noise"};

json body(json inputs) {
  return json{{"inputs", std::move(inputs)}, {"parameters", {{"candidate_labels", kLabels}}}};
}

// `similarity --video` of the labels as they are (the video route's default template).
std::vector<double> cli_probs(const std::string& video) {
  std::vector<std::string> argv{"similarity", "--model", kXClip, "--video", video};
  for (const auto& l : kLabels) {
    argv.push_back("--text");
    argv.push_back(l);
  }
  CliResult r = run_cli(argv);
  EXPECT_EQ(r.status, 0) << r.err;
  std::vector<double> out;
  if (r.status != 0) return out;
  const json parsed = json::parse(r.out);  // kept: a range-for over a temporary's member dangles
  for (const auto& p : parsed["probs_per_video"][0]) out.push_back(p.get<double>());
  return out;
}

void expect_scores(const json& answer, const std::vector<double>& want) {
  ASSERT_EQ(answer.size(), kLabels.size()) << answer.dump();
  ASSERT_EQ(want.size(), kLabels.size());
  std::map<std::string, double> got;
  double last = 2;
  for (const auto& l : answer) {
    EXPECT_LE(l["score"].get<double>(), last) << answer.dump();  // best first
    last = l["score"].get<double>();
    got[l["label"].get<std::string>()] = last;
  }
  for (size_t i = 0; i < kLabels.size(); ++i) EXPECT_NEAR(got[kLabels[i]], want[i], 1e-5) << kLabels[i];
}

HttpAnswer upload(const ServeProcess& s, const httplib::MultipartFormDataItems& form) {
  auto c = s.client();
  auto r = c.Post("/zero-shot-video-classification", form);
  HttpAnswer a;
  if (r) {
    a.status = r->status;
    a.body = r->body;
  }
  return a;
}

std::vector<image::RgbImage> fixture_frames() {
  std::vector<image::RgbImage> frames;
  for (int i = 0; i < 4; ++i)
    frames.push_back(image::decode_image_file(kXClip + "/frames/00" + std::to_string(i) + ".png").image);
  return frames;
}

httplib::MultipartFormDataItems labels_form() {
  return {{"candidate_labels", json(kLabels).dump(), "", ""}, {"model", "xclip", "", ""}};
}

TEST(ServeVideo, UploadedVideoEqualsTheClisSimilarity) {
  TempDir dir;
  // The fixture's four frames in Matroska (FFV1: lossless), and eight frames in AVI of which the
  // evenly sampled four (0, 2, 4, 6) are those.
  const std::vector<image::RgbImage> frames = fixture_frames();
  std::vector<image::RgbImage> eight;
  for (const auto& f : frames) {
    eight.push_back(f);
    eight.push_back(test_frame(f.width, f.height, 99));
  }
  const std::string four = dir.path() + "/four.mkv", eight_avi = dir.path() + "/eight.avi";
  write_test_video(four, frames, "ffv1");
  write_test_video(eight_avi, eight, "ffv1");
  const std::vector<double> want = cli_probs(four);
  const std::vector<double> want_folder = cli_probs(kXClip + "/frames");
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(want[i], want_folder[i], 1e-5);

  ServeProcess server({"-m", kXClip});
  ASSERT_TRUE(server.ready()) << server.log();
  for (const std::string& file : {four, eight_avi}) {
    SCOPED_TRACE(file);
    httplib::MultipartFormDataItems form = labels_form();
    form.push_back({"file", read_file(file), "clip.mkv", "video/x-matroska"});
    HttpAnswer a = upload(server, form);
    ASSERT_EQ(a.status, 200) << a.body;
    expect_scores(a.json(), want);
  }
  // Two uploads: a list of answers. A video data URL, one or a list.
  httplib::MultipartFormDataItems form = labels_form();
  form.push_back({"file", read_file(four), "a.mkv", "video/x-matroska"});
  form.push_back({"file", read_file(eight_avi), "b.avi", "video/x-msvideo"});
  HttpAnswer a = upload(server, form);
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(a.json().size(), 2u);
  expect_scores(a.json()[1], want);
  const std::string url = "data:video/x-matroska;base64," + base64_encode(read_file(four));
  a = post_json(server, "/zero-shot-video-classification", body(url).dump());
  ASSERT_EQ(a.status, 200) << a.body;
  expect_scores(a.json(), want);
  a = post_json(server, "/zero-shot-video-classification", body(json::array({url, url})).dump());
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(a.json().size(), 2u);
  expect_scores(a.json()[0], want);
}

TEST(ServeVideo, BadVideosAre400sNamingTheUpload) {
  TempDir dir;
  std::vector<image::RgbImage> frames;
  for (int i = 0; i < 6; ++i) frames.push_back(test_frame(40, 32, i));
  write_test_video(dir.path() + "/good.mkv", frames, "ffv1");
  const std::string good = read_file(dir.path() + "/good.mkv");
  ServeProcess server({"-m", kXClip});
  ASSERT_TRUE(server.ready()) << server.log();
  for (const auto& [bytes, name] :
       {std::pair<std::string, std::string>{"this is not a video\n", "notes.webm"},
        std::pair<std::string, std::string>{good.substr(0, 60), "cut.mkv"},
        std::pair<std::string, std::string>{read_file(kXClip + "/frames/000.png"), "frame.png"}}) {
    SCOPED_TRACE(name);
    httplib::MultipartFormDataItems form = labels_form();
    form.push_back({"file", bytes, name, "video/mp4"});
    HttpAnswer a = upload(server, form);
    EXPECT_EQ(a.status, 400) << a.body;
    EXPECT_NE(a.body.find(name), std::string::npos) << a.body;
    EXPECT_NE(a.body.find("invalid_request_error"), std::string::npos) << a.body;
  }
  HttpAnswer a = post_json(server, "/zero-shot-video-classification",
                           body("data:video/mp4;base64," + base64_encode("not a video")).dump());
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_NE(a.body.find("not a video file"), std::string::npos) << a.body;
  // Still serving.
  httplib::MultipartFormDataItems form = labels_form();
  form.push_back({"file", good, "good.mkv", "video/x-matroska"});
  EXPECT_EQ(upload(server, form).status, 200);
}

// FFmpeg's libraries are loaded when the first video is decoded: where they cannot be (stand-ins
// of no bytes earlier on the library path), a video file is a 503 naming them, and frames still work.
TEST(ServeVideo, WithoutFfmpegsLibrariesAVideoIs503AndFramesStillWork) {
  TempDir libs;
  for (const std::string& name : {"libavutil.so." + std::to_string(LIBAVUTIL_VERSION_MAJOR),
                                  "libavcodec.so." + std::to_string(LIBAVCODEC_VERSION_MAJOR),
                                  "libavformat.so." + std::to_string(LIBAVFORMAT_VERSION_MAJOR),
                                  "libswscale.so." + std::to_string(LIBSWSCALE_VERSION_MAJOR)})
    write_file(libs.path() + "/" + name, "");
  TempDir dir;
  write_test_video(dir.path() + "/four.mkv", fixture_frames(), "ffv1");  // in this process, FFmpeg linked
  ServeProcess server({"-m", kXClip}, {{"LD_LIBRARY_PATH", libs.path()}});
  ASSERT_TRUE(server.ready()) << server.log();
  httplib::MultipartFormDataItems form = labels_form();
  form.push_back({"file", read_file(dir.path() + "/four.mkv"), "four.mkv", "video/x-matroska"});
  HttpAnswer a = upload(server, form);
  EXPECT_EQ(a.status, 503) << a.body;
  EXPECT_NE(a.body.find("video decoding needs FFmpeg's libraries"), std::string::npos) << a.body;
  json frames = json::array();
  for (int i = 0; i < 4; ++i)
    frames.push_back("data:image/png;base64," +
                     base64_encode(read_file(kXClip + "/frames/00" + std::to_string(i) + ".png")));
  a = post_json(server, "/zero-shot-video-classification", body(frames).dump());
  EXPECT_EQ(a.status, 200) << a.body;
}

}  // namespace
}  // namespace ia::test
