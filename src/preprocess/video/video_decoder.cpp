#include "preprocess/video/video_decoder.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "preprocess/image/image_decoder.h"
#include "preprocess/video/ffmpeg_library.h"
#include "preprocess/video/frame_sampling.h"

namespace ia::video {

namespace {

using Clock = std::chrono::steady_clock;

// The demuxers opened (libavformat matches a demuxer when one of its names is listed).
constexpr const char* kFormats = "mov,mp4,matroska,webm,avi";
constexpr int64_t kMaxRequestedFrames = 4096;

[[noreturn]] void refuse(const VideoLimits& limits, ErrorKind kind, const std::string& msg) {
  throw Error(limits.kind.value_or(kind), msg);
}

const FfmpegLibrary& ff() {
  return ffmpeg_library();
}

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  ff().av_strerror(code, buf, sizeof buf);
  return buf;
}

// The bytes libavformat reads: an upload in memory or an open file.
struct Source {
  std::span<const uint8_t> memory;
  std::FILE* file = nullptr;
  int64_t size = 0, pos = 0;
  Clock::time_point deadline;
};

int read_source(void* opaque, uint8_t* buf, int size) {
  auto* s = static_cast<Source*>(opaque);
  const int64_t n = std::min<int64_t>(size, s->size - s->pos);
  if (n <= 0) return AVERROR_EOF;
  if (s->file) {
    if (fseeko(s->file, static_cast<off_t>(s->pos), SEEK_SET) != 0) return AVERROR(EIO);
    const size_t got = std::fread(buf, 1, static_cast<size_t>(n), s->file);
    if (got == 0) return AVERROR_EOF;
    s->pos += static_cast<int64_t>(got);
    return static_cast<int>(got);
  }
  std::memcpy(buf, s->memory.data() + s->pos, static_cast<size_t>(n));
  s->pos += n;
  return static_cast<int>(n);
}

int64_t seek_source(void* opaque, int64_t offset, int whence) {
  auto* s = static_cast<Source*>(opaque);
  if (whence & AVSEEK_SIZE) return s->size;
  int64_t to = offset;
  switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET: break;
    case SEEK_CUR: to = s->pos + offset; break;
    case SEEK_END: to = s->size + offset; break;
    default: return -1;
  }
  if (to < 0 || to > s->size) return -1;
  s->pos = to;
  return to;
}

int past_deadline(void* opaque) {
  return Clock::now() > static_cast<Source*>(opaque)->deadline ? 1 : 0;
}

struct FormatCloser {
  void operator()(AVFormatContext* f) const { ff().avformat_close_input(&f); }
};
struct IoCloser {
  void operator()(AVIOContext* io) const {
    if (io) ff().av_freep(&io->buffer);
    ff().avio_context_free(&io);
  }
};
struct CodecCloser {
  void operator()(AVCodecContext* c) const { ff().avcodec_free_context(&c); }
};
struct PacketCloser {
  void operator()(AVPacket* p) const { ff().av_packet_free(&p); }
};
struct FrameCloser {
  void operator()(AVFrame* f) const { ff().av_frame_free(&f); }
};
struct SwsCloser {
  void operator()(SwsContext* s) const { ff().sws_freeContext(s); }
};

// One opening of the container: the demuxer over a Source read from its start.
struct Demuxer {
  std::unique_ptr<AVIOContext, IoCloser> io;
  std::unique_ptr<AVFormatContext, FormatCloser> format;
  int stream = -1;
  const AVCodec* codec = nullptr;
};

class VideoReader {
 public:
  VideoReader(Source& src, std::string name, const VideoLimits& limits)
      : src_(src), name_(std::move(name)), limits_(limits) {}

  DecodedVideo read(int64_t count) {
    // FFmpeg's own log lines (a damaged macroblock, a missing reference) would reach the CLI's
    // stderr, whose contract is one line per error: our refusals say what is wrong.
    static const bool quiet = (ff().av_log_set_level(AV_LOG_QUIET), true);
    (void)quiet;
    Demuxer d = open();
    const AVStream* st = d.format->streams[d.stream];
    DecodedVideo out;
    out.format = d.format->iformat->name;
    out.codec = d.codec->name;
    if (st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0) out.fps = av_q2d(st->avg_frame_rate);
    out.total_frames = count_frames(d);
    if (out.total_frames == 0) refuse(limits_, ErrorKind::Corrupt, name_ + ": the video stream has no frames");
    out.indices = uniform_frame_indices(out.total_frames, count);
    int64_t decoded = decode(out.indices, out.frames);
    if (decoded < out.total_frames && static_cast<int64_t>(out.frames.size()) < count) {
      // Fewer frames than packets: sample again over the frames there are.
      if (decoded == 0) refuse(limits_, ErrorKind::Corrupt, name_ + ": no frame of the video stream decodes");
      out.total_frames = decoded;
      out.indices = uniform_frame_indices(decoded, count);
      out.frames.clear();
      decode(out.indices, out.frames);
    }
    if (static_cast<int64_t>(out.frames.size()) != count)
      refuse(limits_, ErrorKind::Corrupt,
             fmt::format("{}: {} of the {} sampled frames decoded", name_, out.frames.size(), count));
    return out;
  }

 private:
  Source& src_;
  std::string name_;
  const VideoLimits& limits_;

  void check_time() const {
    if (Clock::now() > src_.deadline)
      refuse(limits_, ErrorKind::InvalidArgument,
             fmt::format("{}: decoding took longer than {} s; the video is too long for this limit", name_,
                         limits_.max_decode_s));
  }

  void check_size(int64_t w, int64_t h, const char* what) const {
    if (w < 1 || h < 1)
      refuse(limits_, ErrorKind::Corrupt, fmt::format("{}: {} has no size ({}x{})", name_, what, w, h));
    if (w > limits_.max_side || h > limits_.max_side || w * h > limits_.max_pixels)
      refuse(limits_, ErrorKind::InvalidArgument,
             fmt::format("{}: {} is {}x{}, past the limit of {} per side and {} pixels", name_, what, w, h,
                         limits_.max_side, limits_.max_pixels));
  }

  Demuxer open() {
    src_.pos = 0;
    Demuxer d;
    constexpr int kBuffer = 1 << 16;
    auto* buffer = static_cast<uint8_t*>(ff().av_malloc(kBuffer));
    if (!buffer) throw std::bad_alloc();
    d.io.reset(ff().avio_alloc_context(buffer, kBuffer, 0, &src_, read_source, nullptr, seek_source));
    if (!d.io) {
      ff().av_free(buffer);
      throw std::bad_alloc();
    }
    AVFormatContext* f = ff().avformat_alloc_context();
    if (!f) throw std::bad_alloc();
    f->pb = d.io.get();
    f->flags |= AVFMT_FLAG_CUSTOM_IO;
    f->interrupt_callback = {past_deadline, &src_};
    f->format_whitelist = ff().av_strdup(kFormats);
    f->protocol_whitelist = ff().av_strdup("none");               // nothing a file names is opened
    int rc = ff().avformat_open_input(&f, "", nullptr, nullptr);  // frees f on failure
    if (rc < 0) {
      check_time();
      refuse(limits_, src_.size == 0 ? ErrorKind::InvalidArgument : ErrorKind::Unsupported,
             fmt::format("{}: not a video file this build opens (MP4/MOV, Matroska/WebM, AVI): {}", name_,
                         src_.size == 0 ? std::string("empty file") : av_error(rc)));
    }
    d.format.reset(f);
    rc = ff().avformat_find_stream_info(f, nullptr);
    check_time();
    if (rc < 0) refuse(limits_, ErrorKind::Corrupt, fmt::format("{}: unreadable video: {}", name_, av_error(rc)));
    const AVCodec* codec = nullptr;
    d.stream = ff().av_find_best_stream(f, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (d.stream == AVERROR_STREAM_NOT_FOUND)
      refuse(limits_, ErrorKind::InvalidArgument, name_ + ": the file has no video stream");
    if (d.stream < 0 || !codec)
      refuse(limits_, ErrorKind::Unsupported,
             fmt::format("{}: no decoder in this build for its video stream ({})", name_,
                         d.stream >= 0 ? ff().avcodec_get_name(f->streams[d.stream]->codecpar->codec_id) : "unknown"));
    d.codec = codec;
    const AVCodecParameters* par = f->streams[d.stream]->codecpar;
    check_size(par->width, par->height, "the video");
    if (f->duration != AV_NOPTS_VALUE && f->duration > 0 &&
        static_cast<double>(f->duration) / AV_TIME_BASE > limits_.max_duration_s)
      refuse(limits_, ErrorKind::InvalidArgument,
             fmt::format("{}: the video lasts {:.0f} s, past the limit of {:.0f} s", name_,
                         static_cast<double>(f->duration) / AV_TIME_BASE, limits_.max_duration_s));
    return d;
  }

  int64_t count_frames(Demuxer& d) {
    std::unique_ptr<AVPacket, PacketCloser> pkt(ff().av_packet_alloc());
    int64_t n = 0;
    for (;;) {
      const int rc = ff().av_read_frame(d.format.get(), pkt.get());
      check_time();
      if (rc == AVERROR_EOF) break;
      if (rc < 0) break;  // as a player does: the frames before the damage count
      if (pkt->stream_index == d.stream && pkt->size > 0 && ++n > limits_.max_frames)
        refuse(limits_, ErrorKind::InvalidArgument,
               fmt::format("{}: more than {} frames, past the limit", name_, limits_.max_frames));
      ff().av_packet_unref(pkt.get());
    }
    return n;
  }

  // Decodes from the start, converting the frames at `indices` (non-decreasing; repeats give
  // copies). Returns how many frames the stream decoded to.
  int64_t decode(const std::vector<int64_t>& indices, std::vector<image::RgbImage>& frames) {
    Demuxer d = open();
    std::unique_ptr<AVCodecContext, CodecCloser> ctx(ff().avcodec_alloc_context3(d.codec));
    if (!ctx) throw std::bad_alloc();
    int rc = ff().avcodec_parameters_to_context(ctx.get(), d.format->streams[d.stream]->codecpar);
    if (rc < 0) refuse(limits_, ErrorKind::Corrupt, fmt::format("{}: bad stream parameters: {}", name_, av_error(rc)));
    ctx->thread_count = limits_.threads;
    ctx->max_pixels = limits_.max_pixels;
    ctx->pkt_timebase = d.format->streams[d.stream]->time_base;
    rc = ff().avcodec_open2(ctx.get(), d.codec, nullptr);
    if (rc < 0)
      refuse(limits_, ErrorKind::Unsupported,
             fmt::format("{}: the {} decoder refused the stream: {}", name_, d.codec->name, av_error(rc)));
    std::unique_ptr<AVPacket, PacketCloser> pkt(ff().av_packet_alloc());
    std::unique_ptr<AVFrame, FrameCloser> frame(ff().av_frame_alloc());
    std::unique_ptr<SwsContext, SwsCloser> sws;
    int64_t index = 0;
    size_t next = 0;  // the next of `indices` to fill
    const int64_t last = indices.empty() ? -1 : indices.back();
    auto drain = [&]() {
      for (;;) {
        const int r = ff().avcodec_receive_frame(ctx.get(), frame.get());
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
        if (r < 0) return;  // a damaged frame: skipped, as a player skips it
        while (next < indices.size() && indices[next] == index) {
          frames.push_back(to_rgb(*frame, sws));
          ++next;
        }
        ++index;
        ff().av_frame_unref(frame.get());
        check_time();
      }
    };
    bool flushed = false;
    while (index <= last) {
      rc = ff().av_read_frame(d.format.get(), pkt.get());
      check_time();
      if (rc < 0) {
        ff().avcodec_send_packet(ctx.get(), nullptr);  // flush the frames the decoder holds
        drain();
        flushed = true;
        break;
      }
      if (pkt->stream_index == d.stream) {
        // EAGAIN cannot happen here: every send is followed by a full drain.
        ff().avcodec_send_packet(ctx.get(), pkt.get());  // a damaged packet is skipped, as a player skips it
        drain();
      }
      ff().av_packet_unref(pkt.get());
    }
    if (!flushed && index <= last) {
      ff().avcodec_send_packet(ctx.get(), nullptr);
      drain();
    }
    return index;
  }

  image::RgbImage to_rgb(const AVFrame& f, std::unique_ptr<SwsContext, SwsCloser>& sws) const {
    check_size(f.width, f.height, "a frame");
    const auto pix = static_cast<AVPixelFormat>(f.format);
    SwsContext* s = ff().sws_getCachedContext(sws.release(), f.width, f.height, pix, f.width, f.height,
                                              AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr);
    sws.reset(s);
    if (!s)
      refuse(limits_, ErrorKind::Unsupported,
             fmt::format("{}: frames of pixel format {} cannot be converted to RGB", name_,
                         ff().av_get_pix_fmt_name(pix) ? ff().av_get_pix_fmt_name(pix) : "unknown"));
    int colorspace = SWS_CS_DEFAULT;  // BT.601 (BT470BG, SMPTE 170M, unspecified)
    switch (f.colorspace) {
      case AVCOL_SPC_BT709: colorspace = SWS_CS_ITU709; break;
      case AVCOL_SPC_FCC: colorspace = SWS_CS_FCC; break;
      case AVCOL_SPC_SMPTE240M: colorspace = SWS_CS_SMPTE240M; break;
      case AVCOL_SPC_BT2020_NCL:
      case AVCOL_SPC_BT2020_CL: colorspace = SWS_CS_BT2020; break;
      default: break;
    }
    const int full_range = f.color_range == AVCOL_RANGE_JPEG ? 1 : 0;
    // Fails (harmlessly) for RGB sources, which have no matrix.
    ff().sws_setColorspaceDetails(s, ff().sws_getCoefficients(colorspace), full_range,
                                  ff().sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    image::RgbImage out(f.width, f.height);
    uint8_t* dst[4] = {out.pixels.data(), nullptr, nullptr, nullptr};
    int dst_stride[4] = {static_cast<int>(f.width * 3), 0, 0, 0};
    ff().sws_scale(s, f.data, f.linesize, 0, f.height, dst, dst_stride);
    return out;
  }
};

void check_count(int64_t count, const std::string& name, const VideoLimits& limits) {
  if (count < 1 || count > kMaxRequestedFrames)
    refuse(limits, ErrorKind::InvalidArgument,
           fmt::format("{}: {} frames requested (1 to {})", name, count, kMaxRequestedFrames));
}

Clock::time_point deadline_of(const VideoLimits& limits) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limits.max_decode_s));
}

bool is_frame_image(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".webp" || ext == ".gif" || ext == ".bmp";
}

}  // namespace

DecodedVideo decode_video_bytes(std::span<const uint8_t> bytes, const std::string& name, int64_t count,
                                const VideoLimits& limits) {
  check_count(count, name, limits);
  if (static_cast<int64_t>(bytes.size()) > limits.max_file_bytes)
    refuse(limits, ErrorKind::InvalidArgument,
           fmt::format("{}: {} bytes, past the limit of {} bytes", name, bytes.size(), limits.max_file_bytes));
  Source src;
  src.memory = bytes;
  src.size = static_cast<int64_t>(bytes.size());
  src.deadline = deadline_of(limits);
  return VideoReader(src, name, limits).read(count);
}

DecodedVideo decode_video_file(const std::string& path, int64_t count, const VideoLimits& limits) {
  check_count(count, path, limits);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) refuse(limits, ErrorKind::NotFound, path + ": no such file");
  if (!S_ISREG(st.st_mode)) refuse(limits, ErrorKind::InvalidArgument, path + ": not a regular file");
  if (st.st_size > limits.max_file_bytes)
    refuse(limits, ErrorKind::InvalidArgument,
           fmt::format("{}: {} bytes, past the limit of {} bytes", path, st.st_size, limits.max_file_bytes));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!file) refuse(limits, ErrorKind::NotFound, path + ": cannot be opened");
  Source src;
  src.file = file.get();
  src.size = st.st_size;
  src.deadline = deadline_of(limits);
  return VideoReader(src, path, limits).read(count);
}

namespace {

// `count` of `total` frame images, sampled evenly; decode(i, limits) decodes image i. Only the
// sampled images are decoded, each within the frame limits.
template <class Decode>
DecodedVideo sample_frames(int64_t total, int64_t count, const VideoLimits& limits, Decode decode) {
  DecodedVideo out;
  out.format = "frames";
  out.total_frames = total;
  out.indices = uniform_frame_indices(out.total_frames, count);
  image::ImageLimits il;
  il.kind = limits.kind;
  il.max_side = limits.max_side;
  il.max_pixels = limits.max_pixels;
  for (int64_t i : out.indices) out.frames.push_back(decode(i, il));
  return out;
}

}  // namespace

DecodedVideo load_frame_folder(const std::string& dir, int64_t count, const VideoLimits& limits) {
  check_count(count, dir, limits);
  std::vector<std::string> files;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec) || !is_frame_image(it->path())) continue;
    files.push_back(it->path().string());
    if (static_cast<int64_t>(files.size()) > limits.max_frames)
      refuse(limits, ErrorKind::InvalidArgument,
             fmt::format("{}: more than {} frame images, past the limit", dir, limits.max_frames));
  }
  if (ec) refuse(limits, ErrorKind::NotFound, fmt::format("{}: cannot list the folder: {}", dir, ec.message()));
  if (files.empty())
    refuse(limits, ErrorKind::InvalidArgument, dir + ": no frame images (.png, .jpg, .webp, .gif, .bmp) in the folder");
  std::sort(files.begin(), files.end());
  return sample_frames(static_cast<int64_t>(files.size()), count, limits, [&](int64_t i, const image::ImageLimits& il) {
    return image::decode_image_file(files[static_cast<size_t>(i)], il).image;
  });
}

DecodedVideo decode_frame_images(const std::vector<std::span<const uint8_t>>& images,
                                 const std::vector<std::string>& names, const std::string& name, int64_t count,
                                 const VideoLimits& limits) {
  check_count(count, name, limits);
  if (names.size() != images.size())
    throw Error(ErrorKind::Internal,
                fmt::format("{}: {} frame names for {} frames", name, names.size(), images.size()));
  if (images.empty()) refuse(limits, ErrorKind::InvalidArgument, name + ": no frames");
  if (static_cast<int64_t>(images.size()) > limits.max_frames)
    refuse(limits, ErrorKind::InvalidArgument,
           fmt::format("{}: {} frames, past the limit of {}", name, images.size(), limits.max_frames));
  return sample_frames(static_cast<int64_t>(images.size()), count, limits,
                       [&](int64_t i, const image::ImageLimits& il) {
                         const auto k = static_cast<size_t>(i);
                         return image::decode_image_bytes(images[k], names[k], il).image;
                       });
}

DecodedVideo load_video(const std::string& path, int64_t count, const VideoLimits& limits) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return load_frame_folder(path, count, limits);
  return decode_video_file(path, count, limits);
}

}  // namespace ia::video
