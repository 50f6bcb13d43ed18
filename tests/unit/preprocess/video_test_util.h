#pragma once
// Helpers for the video front-end tests: small videos written at run time with the same FFmpeg
// libraries the decoder reads them with, so each test knows exactly which frames a file holds.
// FFV1 (lossless, packed BGR0) gives back exactly the frames written; MPEG-4 Part 2 (lossy, YUV
// 4:2:0, with B-frames) exercises the reordering and colour conversion paths.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "preprocess/image/rgb_image.h"

namespace ia::test {

// Frame i of a test video: a pattern that moves with i, different in every channel.
inline image::RgbImage test_frame(int64_t w, int64_t h, int64_t i) {
  image::RgbImage im(w, h);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* p = im.row(y) + x * 3;
      p[0] = static_cast<uint8_t>((x * 7 + i * 31) & 255);
      p[1] = static_cast<uint8_t>((y * 9 + i * 17) & 255);
      p[2] = static_cast<uint8_t>(((x ^ y) * 5 + i * 50) & 255);
    }
  return im;
}

// Writes `frames` (one size) to `path` with the encoder `codec` ("ffv1" or "mpeg4"); the container
// comes from the extension (.mkv, .avi, .mp4).
inline void write_test_video(const std::string& path, const std::vector<image::RgbImage>& frames,
                             const std::string& codec, int fps = 10) {
  auto check = [](int rc, const char* what) {
    if (rc < 0) throw std::runtime_error(std::string("write_test_video: ") + what + " failed");
  };
  const int W = static_cast<int>(frames.at(0).width), H = static_cast<int>(frames.at(0).height);
  AVFormatContext* oc = nullptr;
  check(avformat_alloc_output_context2(&oc, nullptr, nullptr, path.c_str()), "output context");
  const AVCodec* enc = avcodec_find_encoder_by_name(codec.c_str());
  if (!enc) throw std::runtime_error("write_test_video: no encoder " + codec);
  AVStream* st = avformat_new_stream(oc, nullptr);
  AVCodecContext* ctx = avcodec_alloc_context3(enc);
  ctx->width = W;
  ctx->height = H;
  ctx->time_base = {1, fps};
  ctx->framerate = {fps, 1};
  const bool rgb = codec == "ffv1";
  ctx->pix_fmt = rgb ? AV_PIX_FMT_0RGB32 : AV_PIX_FMT_YUV420P;  // 0RGB32: B, G, R, 0 bytes on little-endian
  if (!rgb) {
    ctx->gop_size = 4;
    ctx->max_b_frames = 1;
    ctx->bit_rate = 2'000'000;
  }
  if (oc->oformat->flags & AVFMT_GLOBALHEADER) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  check(avcodec_open2(ctx, enc, nullptr), "encoder open");
  check(avcodec_parameters_from_context(st->codecpar, ctx), "parameters");
  st->time_base = ctx->time_base;
  check(avio_open(&oc->pb, path.c_str(), AVIO_FLAG_WRITE), "file open");
  check(avformat_write_header(oc, nullptr), "header");
  AVPacket* pkt = av_packet_alloc();
  auto drain = [&] {
    while (avcodec_receive_packet(ctx, pkt) == 0) {
      av_packet_rescale_ts(pkt, ctx->time_base, st->time_base);
      pkt->stream_index = st->index;
      check(av_interleaved_write_frame(oc, pkt), "write");
    }
  };
  SwsContext* sws = nullptr;
  for (size_t i = 0; i < frames.size(); ++i) {
    AVFrame* f = av_frame_alloc();
    f->format = ctx->pix_fmt;
    f->width = W;
    f->height = H;
    check(av_frame_get_buffer(f, 0), "frame buffer");
    const image::RgbImage& im = frames[i];
    if (rgb) {  // the exact bytes
      const uint32_t one = 1;
      const bool little = *reinterpret_cast<const uint8_t*>(&one) == 1;
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
          const uint8_t* p = im.at(x, y);
          uint8_t* q = f->data[0] + y * f->linesize[0] + x * 4;
          const uint8_t px[4] = {p[2], p[1], p[0], 0};  // B, G, R, 0 in memory on little-endian
          for (int k = 0; k < 4; ++k) q[k] = little ? px[k] : px[3 - k];
        }
    } else {
      sws = sws_getCachedContext(sws, W, H, AV_PIX_FMT_RGB24, W, H, AV_PIX_FMT_YUV420P, SWS_BILINEAR, nullptr, nullptr,
                                 nullptr);
      const uint8_t* src[1] = {im.pixels.data()};
      const int stride[1] = {W * 3};
      sws_scale(sws, src, stride, 0, H, f->data, f->linesize);
    }
    f->pts = static_cast<int64_t>(i);
    check(avcodec_send_frame(ctx, f), "encode");
    av_frame_free(&f);
    drain();
  }
  check(avcodec_send_frame(ctx, nullptr), "flush");
  drain();
  check(av_write_trailer(oc), "trailer");
  sws_freeContext(sws);
  av_packet_free(&pkt);
  avcodec_free_context(&ctx);
  avio_closep(&oc->pb);
  avformat_free_context(oc);
}

// A temporary folder removed with everything in it.
class VideoTempDir {
 public:
  VideoTempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ia-video-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~VideoTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ia::test
