#pragma once
// What the per-format decoders share (internal to preprocess/image).
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "preprocess/image/image_decoder.h"

namespace ia::image::detail {

struct Source {
  std::span<const uint8_t> bytes;
  const std::string& name;
  const ImageLimits& limits;
};

template <typename... Args>
[[noreturn]] void refuse(const ImageLimits& limits, ErrorKind natural, fmt::format_string<Args...> f, Args&&... args) {
  std::string msg = fmt::format(f, std::forward<Args>(args)...);
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  throw Error(limits.kind.value_or(natural), msg);
}

// InvalidArgument naming the file when width x height is empty or past the limits: called with
// the header's dimensions before any pixel buffer exists.
void check_dimensions(const Source& src, const char* format, int64_t width, int64_t height);

// The orientation (1-8) of an EXIF block: a TIFF structure ("II*\0" / "MM\0*" ...), with or
// without the "Exif\0\0" prefix of a JPEG APP1 segment; 1 when it has none or cannot be read
// (PIL ignores an EXIF block it cannot parse).
int exif_orientation(std::span<const uint8_t> exif);
// The image as ImageOps.exif_transpose leaves it for `orientation` (2-8; others: unchanged).
RgbImage apply_orientation(RgbImage image, int orientation);

DecodedImage decode_png(const Source& src);
DecodedImage decode_jpeg(const Source& src);
DecodedImage decode_webp(const Source& src);
DecodedImage decode_gif(const Source& src);
DecodedImage decode_bmp(const Source& src);

}  // namespace ia::image::detail
