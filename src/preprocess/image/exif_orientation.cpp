// The EXIF orientation tag and the transposes ImageOps.exif_transpose applies for it.
#include <cstring>

#include "preprocess/image/decode_internal.h"

namespace ia::image::detail {

int exif_orientation(std::span<const uint8_t> exif) {
  if (exif.size() >= 6 && std::memcmp(exif.data(), "Exif\0\0", 6) == 0) exif = exif.subspan(6);
  if (exif.size() < 8) return 1;
  bool little;
  if (exif[0] == 'I' && exif[1] == 'I') {
    little = true;
  } else if (exif[0] == 'M' && exif[1] == 'M') {
    little = false;
  } else {
    return 1;
  }
  auto u16 = [&](size_t at) -> uint32_t {
    return little ? exif[at] | (exif[at + 1] << 8) : (exif[at] << 8) | exif[at + 1];
  };
  auto u32 = [&](size_t at) -> uint32_t {
    return little ? u16(at) | (u16(at + 2) << 16) : (u16(at) << 16) | u16(at + 2);
  };
  if (u16(2) != 42) return 1;
  const size_t ifd = u32(4);
  if (ifd > exif.size() || exif.size() - ifd < 2) return 1;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + i * 12;
    if (e > exif.size() || exif.size() - e < 12) return 1;
    if (u16(e) != 0x0112) continue;
    const uint32_t type = u16(e + 2);
    uint32_t v = 0;
    if (type == 3) {  // SHORT: the first two bytes of the value field
      v = u16(e + 8);
    } else if (type == 4) {  // LONG
      v = u32(e + 8);
    } else {
      return 1;
    }
    return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
  }
  return 1;
}

RgbImage apply_orientation(RgbImage in, int orientation) {
  if (orientation < 2 || orientation > 8) return in;
  const int64_t W = in.width, H = in.height;
  const bool swap = orientation >= 5;  // TRANSPOSE, ROTATE_270, TRANSVERSE, ROTATE_90 swap the sides
  RgbImage out(swap ? H : W, swap ? W : H);
  for (int64_t y = 0; y < out.height; ++y) {
    uint8_t* o = out.row(y);
    for (int64_t x = 0; x < out.width; ++x, o += 3) {
      int64_t sx = x, sy = y;
      switch (orientation) {
        case 2: sx = W - 1 - x; break;                  // FLIP_LEFT_RIGHT
        case 3: sx = W - 1 - x, sy = H - 1 - y; break;  // ROTATE_180
        case 4: sy = H - 1 - y; break;                  // FLIP_TOP_BOTTOM
        case 5: sx = y, sy = x; break;                  // TRANSPOSE
        case 6: sx = y, sy = H - 1 - x; break;          // ROTATE_270 (clockwise)
        case 7: sx = W - 1 - y, sy = H - 1 - x; break;  // TRANSVERSE
        case 8: sx = W - 1 - y, sy = x; break;          // ROTATE_90 (counter-clockwise)
      }
      std::memcpy(o, in.at(sx, sy), 3);
    }
  }
  return out;
}

}  // namespace ia::image::detail
