// WebP through libwebp. PIL decodes every WebP through WebPAnimDecoder: a still image is its
// first and only frame, decoded straight into the canvas; an animation's first frame is decoded
// into a canvas of transparent black. Its RGB is what WebPDecode gives in MODE_RGB (alpha dropped).
#include <webp/decode.h>
#include <webp/demux.h>

#include <memory>

#include "preprocess/image/decode_internal.h"

namespace ia::image::detail {

namespace {

const char* status_text(VP8StatusCode c) {
  switch (c) {
    case VP8_STATUS_OK: return "ok";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data";
  }
  return "unknown error";
}

struct DemuxDeleter {
  void operator()(WebPDemuxer* d) const { WebPDemuxDelete(d); }
};
struct AnimDeleter {
  void operator()(WebPAnimDecoder* d) const { WebPAnimDecoderDelete(d); }
};

[[noreturn]] void refuse_status(const Source& src, VP8StatusCode c) {
  if (c == VP8_STATUS_NOT_ENOUGH_DATA)
    refuse(src.limits, ErrorKind::Corrupt, "{}: truncated WebP (not enough data)", src.name);
  if (c == VP8_STATUS_UNSUPPORTED_FEATURE)
    refuse(src.limits, ErrorKind::Unsupported, "{}: WebP with a feature libwebp does not decode", src.name);
  refuse(src.limits, ErrorKind::Corrupt, "{}: malformed WebP: {}", src.name, status_text(c));
}

}  // namespace

DecodedImage decode_webp(const Source& src) {
  WebPBitstreamFeatures features;
  VP8StatusCode c = WebPGetFeatures(src.bytes.data(), src.bytes.size(), &features);
  if (c != VP8_STATUS_OK) refuse_status(src, c);
  WebPData data{src.bytes.data(), src.bytes.size()};
  std::unique_ptr<WebPDemuxer, DemuxDeleter> demux(WebPDemux(&data));
  DecodedImage out;
  out.format = "WebP";
  if (features.has_animation) {
    if (!demux) refuse(src.limits, ErrorKind::Corrupt, "{}: malformed or truncated animated WebP", src.name);
    const int64_t w = WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_WIDTH);
    const int64_t h = WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_HEIGHT);
    check_dimensions(src, "WebP", w, h);
    WebPAnimDecoderOptions opts;
    if (!WebPAnimDecoderOptionsInit(&opts)) refuse(src.limits, ErrorKind::Internal, "{}: libwebp version", src.name);
    opts.color_mode = MODE_RGBA;
    opts.use_threads = 0;
    std::unique_ptr<WebPAnimDecoder, AnimDeleter> dec(WebPAnimDecoderNew(&data, &opts));
    if (!dec) refuse(src.limits, ErrorKind::Corrupt, "{}: malformed animated WebP", src.name);
    uint8_t* rgba = nullptr;
    int timestamp = 0;
    if (!WebPAnimDecoderGetNext(dec.get(), &rgba, &timestamp) || !rgba)
      refuse(src.limits, ErrorKind::Corrupt, "{}: the first frame of the animated WebP does not decode", src.name);
    out.image = RgbImage(w, h);
    uint8_t* o = out.image.pixels.data();
    for (int64_t i = 0; i < w * h; ++i, o += 3, rgba += 4) o[0] = rgba[0], o[1] = rgba[1], o[2] = rgba[2];
  } else {
    check_dimensions(src, "WebP", features.width, features.height);
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) refuse(src.limits, ErrorKind::Internal, "{}: libwebp version", src.name);
    const int64_t w = features.width, h = features.height;
    out.image = RgbImage(w, h);
    config.output.colorspace = MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = out.image.pixels.data();
    config.output.u.RGBA.stride = static_cast<int>(w * 3);
    config.output.u.RGBA.size = out.image.pixels.size();
    c = WebPDecode(src.bytes.data(), src.bytes.size(), &config);
    WebPFreeDecBuffer(&config.output);
    if (c != VP8_STATUS_OK) refuse_status(src, c);
  }
  if (demux && (WebPDemuxGetI(demux.get(), WEBP_FF_FORMAT_FLAGS) & EXIF_FLAG)) {
    WebPChunkIterator it;
    if (WebPDemuxGetChunk(demux.get(), "EXIF", 1, &it)) {
      out.orientation = exif_orientation(std::span<const uint8_t>(it.chunk.bytes, it.chunk.size));
      WebPDemuxReleaseChunkIterator(&it);
    }
  }
  out.image = apply_orientation(std::move(out.image), out.orientation);
  return out;
}

}  // namespace ia::image::detail
