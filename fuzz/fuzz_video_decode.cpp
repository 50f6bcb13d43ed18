// libFuzzer target for the in-memory video decoder (what an upload reaches): libavformat's MP4 /
// MOV, Matroska / WebM and AVI demuxers behind our I/O callbacks, the frame count, the sampling,
// libavcodec's decoders and the conversion to RGB. Any input must either give the requested frames
// within the limits or throw ia::Error; any other exception, a crash, a hang or a sanitizer report
// is a bug.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.h"
#include "preprocess/video/video_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ia::video::VideoLimits limits;
  limits.max_pixels = 1 << 16;  // bounds memory and time per input
  limits.max_side = 1024;
  limits.max_frames = 1000;
  limits.max_decode_s = 2;
  limits.threads = 1;  // deterministic, and no decoder threads under the sanitizers
  try {
    ia::video::DecodedVideo v =
        ia::video::decode_video_bytes(std::span<const uint8_t>(data, size), "fuzz-input", 3, limits);
    if (v.frames.size() != 3 || v.indices.size() != 3) __builtin_trap();
    for (size_t i = 0; i < v.frames.size(); ++i) {
      const auto& f = v.frames[i];
      if (f.width < 1 || f.height < 1 || f.width * f.height > limits.max_pixels) __builtin_trap();
      if (f.pixels.size() != static_cast<size_t>(f.width * f.height * 3)) __builtin_trap();
      if (v.indices[i] < 0 || v.indices[i] >= v.total_frames) __builtin_trap();
    }
  } catch (const ia::Error&) {
    // Expected for malformed input.
  }
  return 0;
}
