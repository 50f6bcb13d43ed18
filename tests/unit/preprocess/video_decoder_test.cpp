// The video front end: frame sampling, FFmpeg decoding of files written here with FFmpeg's
// encoders (FFV1 exactly, MPEG-4 approximately), frame folders, and refusals of bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <span>

#include "preprocess/image/image_decoder.h"
#include "preprocess/video/frame_sampling.h"
#include "preprocess/video/video_decoder.h"
#include "video_test_util.h"

namespace ia::video {
namespace {

std::vector<image::RgbImage> test_frames(int n, int64_t w = 32, int64_t h = 24) {
  std::vector<image::RgbImage> out;
  for (int i = 0; i < n; ++i) out.push_back(test::test_frame(w, h, i));
  return out;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<long>(b.size()));
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return ErrorKind::Internal;
}

double mean_abs_diff(const image::RgbImage& a, const image::RgbImage& b) {
  double s = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) s += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  return s / static_cast<double>(a.pixels.size());
}

TEST(FrameSampling, UniformAsTransformersSamples) {
  // np.arange(0, total, total / count).astype(int)
  EXPECT_EQ(uniform_frame_indices(300, 8), (std::vector<int64_t>{0, 37, 75, 112, 150, 187, 225, 262}));
  EXPECT_EQ(uniform_frame_indices(10, 4), (std::vector<int64_t>{0, 2, 5, 7}));
  EXPECT_EQ(uniform_frame_indices(7, 7), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(uniform_frame_indices(2, 4), (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(uniform_frame_indices(1, 3), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_TRUE(uniform_frame_indices(0, 3).empty());
}

TEST(VideoDecoder, FfvInMatroskaGivesBackTheFramesExactly) {
  test::VideoTempDir dir;
  const auto frames = test_frames(10);
  const std::string path = dir.file("clip.mkv");
  test::write_test_video(path, frames, "ffv1");
  DecodedVideo v = decode_video_file(path, 4);
  EXPECT_EQ(v.total_frames, 10);
  EXPECT_EQ(v.indices, (std::vector<int64_t>{0, 2, 5, 7}));
  EXPECT_EQ(v.codec, "ffv1");
  EXPECT_NE(v.format.find("matroska"), std::string::npos) << v.format;
  EXPECT_NEAR(v.fps, 10.0, 1e-6);
  ASSERT_EQ(v.frames.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(v.frames[i].width, 32);
    EXPECT_EQ(v.frames[i].height, 24);
    EXPECT_EQ(v.frames[i].pixels, frames[static_cast<size_t>(v.indices[i])].pixels) << "frame " << v.indices[i];
  }
  // The same bytes from memory (an upload) decode the same; a short video repeats frames.
  DecodedVideo m = decode_video_bytes(read_bytes(path), "upload.mkv", 4);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(m.frames[i].pixels, v.frames[i].pixels);
  DecodedVideo all = decode_video_file(path, 20);
  EXPECT_EQ(all.indices[0], 0);
  EXPECT_EQ(all.indices[1], 0);
  EXPECT_EQ(all.frames[19].pixels, frames[9].pixels);
}

TEST(VideoDecoder, Mpeg4InAviWithBFramesInDisplayOrder) {
  test::VideoTempDir dir;
  const auto frames = test_frames(9, 64, 48);
  const std::string path = dir.file("clip.avi");
  test::write_test_video(path, frames, "mpeg4");
  DecodedVideo v = decode_video_file(path, 9);
  EXPECT_EQ(v.total_frames, 9);
  EXPECT_EQ(v.codec, "mpeg4");
  ASSERT_EQ(v.frames.size(), 9u);
  for (size_t i = 0; i < 9; ++i) {
    // Lossy, but each decoded frame is nearest the frame written at its place.
    const double own = mean_abs_diff(v.frames[i], frames[i]);
    EXPECT_LT(own, 20.0) << "frame " << i;
    for (size_t j = 0; j < 9; ++j) {
      if (j != i) {
        EXPECT_LT(own, mean_abs_diff(v.frames[i], frames[j])) << "frame " << i << " vs " << j;
      }
    }
  }
}

TEST(VideoDecoder, FrameFolderInNameOrder) {
  const std::string dir = std::string(IA_FIXTURES_DIR) + "/models/xclip/frames";
  DecodedVideo v = load_video(dir, 2);
  EXPECT_EQ(v.format, "frames");
  EXPECT_EQ(v.total_frames, 4);
  EXPECT_EQ(v.indices, (std::vector<int64_t>{0, 2}));
  ASSERT_EQ(v.frames.size(), 2u);
  EXPECT_EQ(v.frames[1].pixels, image::decode_image_file(dir + "/002.png").image.pixels);
}

// Frames sent as encoded images (a server's upload): sampled as a folder's are, only the sampled
// ones decoded, refusals naming the frame.
TEST(VideoDecoder, FrameImagesInMemorySampleAsAFolder) {
  const std::string dir = std::string(IA_FIXTURES_DIR) + "/models/xclip/frames";
  std::vector<std::vector<uint8_t>> files;
  for (int i = 0; i < 4; ++i) files.push_back(read_bytes(dir + "/00" + std::to_string(i) + ".png"));
  const std::vector<uint8_t> junk{'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
  files.push_back(junk);  // frame 4: never sampled when 2 of 6 are taken (0, 3)
  files.push_back(files[3]);
  std::vector<std::span<const uint8_t>> spans;
  std::vector<std::string> names;
  for (size_t i = 0; i < files.size(); ++i) {
    spans.emplace_back(files[i]);
    names.push_back("frame " + std::to_string(i));
  }
  DecodedVideo v = decode_frame_images(spans, names, "upload", 2);
  EXPECT_EQ(v.format, "frames");
  EXPECT_EQ(v.total_frames, 6);
  EXPECT_EQ(v.indices, (std::vector<int64_t>{0, 3}));
  ASSERT_EQ(v.frames.size(), 2u);
  EXPECT_EQ(v.frames[1].pixels, image::decode_image_file(dir + "/003.png").image.pixels);
  // The four fixture frames alone give what the folder gives.
  const std::vector<std::span<const uint8_t>> four(spans.begin(), spans.begin() + 4);
  const std::vector<std::string> four_names(names.begin(), names.begin() + 4);
  DecodedVideo a = decode_frame_images(four, four_names, "upload", 4), b = load_video(dir, 4);
  EXPECT_EQ(a.indices, b.indices);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(a.frames[i].pixels, b.frames[i].pixels);

  // A sampled frame that is no image names itself; no frames, too many, a bad count.
  VideoLimits server;
  server.kind = ErrorKind::InvalidArgument;
  try {
    decode_frame_images(spans, names, "upload", 6, server);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("frame 4"), std::string::npos) << e.what();
  }
  EXPECT_EQ(kind_of([&] { decode_frame_images({}, {}, "upload", 2); }), ErrorKind::InvalidArgument);
  VideoLimits few;
  few.max_frames = 3;
  EXPECT_EQ(kind_of([&] { decode_frame_images(spans, names, "upload", 2, few); }), ErrorKind::InvalidArgument);
  EXPECT_EQ(kind_of([&] { decode_frame_images(spans, names, "upload", 0); }), ErrorKind::InvalidArgument);
}

TEST(VideoDecoder, RefusesBadInput) {
  test::VideoTempDir dir;
  const std::string good = dir.file("good.mkv");
  test::write_test_video(good, test_frames(6), "ffv1");
  const auto bytes = read_bytes(good);

  EXPECT_EQ(kind_of([&] { decode_video_file(dir.file("missing.mp4"), 4); }), ErrorKind::NotFound);
  write_bytes(dir.file("empty.mp4"), {});
  EXPECT_EQ(kind_of([&] { decode_video_file(dir.file("empty.mp4"), 4); }), ErrorKind::InvalidArgument);
  const std::string text = "this is not a video, just some words in a file\n";
  write_bytes(dir.file("notes.mp4"), std::vector<uint8_t>(text.begin(), text.end()));
  EXPECT_EQ(kind_of([&] { decode_video_file(dir.file("notes.mp4"), 4); }), ErrorKind::Unsupported);
  // An image is not a video: the image demuxers are not opened.
  const std::string png = std::string(IA_FIXTURES_DIR) + "/models/xclip/frames/000.png";
  EXPECT_EQ(kind_of([&] { decode_video_file(png, 4); }), ErrorKind::Unsupported);
  EXPECT_EQ(kind_of([&] { load_video(dir.path().string(), 4); }), ErrorKind::InvalidArgument);  // no frame images
  EXPECT_EQ(kind_of([&] { decode_video_file(good, 0); }), ErrorKind::InvalidArgument);

  VideoLimits small;
  small.max_side = 16;
  EXPECT_EQ(kind_of([&] { decode_video_file(good, 2, small); }), ErrorKind::InvalidArgument);
  VideoLimits few;
  few.max_frames = 5;
  EXPECT_EQ(kind_of([&] { decode_video_file(good, 2, few); }), ErrorKind::InvalidArgument);
  VideoLimits no_time;
  no_time.max_decode_s = 0;
  EXPECT_EQ(kind_of([&] { decode_video_file(good, 2, no_time); }), ErrorKind::InvalidArgument);
  VideoLimits tiny_file;
  tiny_file.max_file_bytes = 100;
  EXPECT_EQ(kind_of([&] { decode_video_bytes(bytes, "up.mkv", 2, tiny_file); }), ErrorKind::InvalidArgument);
  VideoLimits server;
  server.kind = ErrorKind::InvalidArgument;
  EXPECT_EQ(kind_of([&] { decode_video_file(dir.file("notes.mp4"), 4, server); }), ErrorKind::InvalidArgument);

  // Cut short or damaged: the frames that decode, or a clear refusal; never a crash.
  for (size_t keep : {bytes.size() / 2, bytes.size() / 5, size_t{40}}) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(keep));
    try {
      DecodedVideo v = decode_video_bytes(cut, "cut.mkv", 3);
      EXPECT_EQ(v.frames.size(), 3u);
    } catch (const Error& e) {
      EXPECT_NE(e.kind(), ErrorKind::Internal) << e.what();
    }
  }
  std::vector<uint8_t> flipped = bytes;
  for (size_t i = bytes.size() / 3; i < bytes.size(); i += 7) flipped[i] ^= 0x5a;
  try {
    DecodedVideo v = decode_video_bytes(flipped, "damaged.mkv", 3);
    EXPECT_EQ(v.frames.size(), 3u);
  } catch (const Error& e) {
    EXPECT_NE(e.kind(), ErrorKind::Internal) << e.what();
  }
}

}  // namespace
}  // namespace ia::video
