// BMP parsed here (Debian has no BMP library PIL's behaviour could come from), as PIL's
// BmpImagePlugin reads it: Windows headers (40, 52, 56, 108, 124 bytes) and OS/2 1.x (12) and 2.x
// (16, 64) headers; 1, 4, 8-bit palettes (entries past the palette black), 16-bit 5-5-5, 24-bit
// BGR, 32-bit BGRX, BI_BITFIELDS / BI_ALPHABITFIELDS masks on 16 and 32 bits (each channel
// scaled v * 255 / max, as PIL's BGR;15 / BGR;16 unpackers; alpha dropped), RLE8 and RLE4; bottom-up
// or top-down (negative height) rows.
#include <cstring>

#include "preprocess/image/decode_internal.h"

namespace ia::image::detail {

namespace {

class Bytes {
 public:
  explicit Bytes(const Source& src) : src_(src), b_(src.bytes) {}
  bool has(size_t at, size_t n) const { return at <= b_.size() && b_.size() - at >= n; }
  uint32_t u16(size_t at) const {
    need(at, 2);
    return b_[at] | (b_[at + 1] << 8);
  }
  uint32_t u32(size_t at) const {
    need(at, 4);
    return u16(at) | (u16(at + 2) << 16);
  }
  int32_t i32(size_t at) const { return static_cast<int32_t>(u32(at)); }
  const uint8_t* ptr(size_t at) const { return b_.data() + at; }
  size_t size() const { return b_.size(); }
  void need(size_t at, size_t n) const {
    if (!has(at, n))
      refuse(src_.limits, ErrorKind::Corrupt, "{}: truncated BMP (header or palette cut short)", src_.name);
  }

 private:
  const Source& src_;
  std::span<const uint8_t> b_;
};

// A channel mask: where its bits start and the largest value they hold.
struct Channel {
  uint32_t mask = 0;
  int shift = 0;
  uint32_t max = 0;
  explicit Channel(uint32_t m) : mask(m) {
    if (!m) return;
    while (!((m >> shift) & 1)) ++shift;
    max = m >> shift;
  }
  uint8_t operator()(uint32_t px) const {
    if (!max) return 0;
    return static_cast<uint8_t>(static_cast<uint64_t>((px & mask) >> shift) * 255 / max);
  }
};

}  // namespace

DecodedImage decode_bmp(const Source& src) {
  Bytes b(src);
  b.need(0, 18);
  const uint32_t data_offset = b.u32(10);
  const uint32_t header = b.u32(14);
  int64_t width = 0, height = 0;
  uint32_t bpp = 0, compression = 0, colors = 0;
  size_t palette_at = 14 + header, entry = 4;
  uint32_t masks[4] = {0, 0, 0, 0};
  bool have_masks = false;
  if (header == 12) {  // OS/2 1.x
    b.need(14, 12);
    width = b.u16(18);
    height = static_cast<int16_t>(b.u16(20));
    bpp = b.u16(24);
    entry = 3;
  } else if (header == 16 || header == 40 || header == 52 || header == 56 || header == 64 || header == 108 ||
             header == 124) {
    b.need(14, header);
    width = b.i32(18);
    height = b.i32(22);
    bpp = b.u16(28);
    compression = header >= 20 ? b.u32(30) : 0;
    colors = header >= 36 ? b.u32(46) : 0;
    if (header == 64 && compression == 3) compression = 0x100;  // OS/2 2.x: 3 is Huffman 1-D
    if (compression == 3 || compression == 6) {
      if (header >= 52) {
        for (int i = 0; i < 3; ++i) masks[i] = b.u32(54 + 4 * static_cast<size_t>(i));
        if (header >= 56) masks[3] = b.u32(66);
      } else {
        const int n = compression == 6 ? 4 : 3;
        for (int i = 0; i < n; ++i) masks[i] = b.u32(palette_at + 4 * static_cast<size_t>(i));
        palette_at += 4 * static_cast<size_t>(n);
      }
      have_masks = true;
    }
  } else {
    refuse(src.limits, ErrorKind::Unsupported, "{}: BMP with a {}-byte header is not decoded here", src.name, header);
  }
  const bool top_down = height < 0;
  if (top_down) height = -height;
  check_dimensions(src, "BMP", width, height);
  if (compression == 4 || compression == 5)
    refuse(src.limits, ErrorKind::Unsupported, "{}: BMP holding a {} image is not decoded here", src.name,
           compression == 4 ? "JPEG" : "PNG");
  const bool rle = compression == 1 || compression == 2;
  if (!(compression == 0 || have_masks || (compression == 1 && bpp == 8) || (compression == 2 && bpp == 4)))
    refuse(src.limits, ErrorKind::Unsupported, "{}: BMP compression {} with {} bits per pixel is not decoded here",
           src.name, compression, bpp);
  if (have_masks && bpp != 16 && bpp != 32)
    refuse(src.limits, ErrorKind::Unsupported, "{}: BMP bit masks on {} bits per pixel", src.name, bpp);
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
    refuse(src.limits, ErrorKind::Unsupported, "{}: BMP with {} bits per pixel is not decoded here", src.name, bpp);

  uint8_t lut[256][3] = {};
  if (bpp <= 8) {
    const uint32_t n = colors == 0 || colors > (1u << bpp) ? (1u << bpp) : colors;
    b.need(palette_at, n * entry);
    for (uint32_t i = 0; i < n; ++i) {
      const uint8_t* p = b.ptr(palette_at + i * entry);
      lut[i][0] = p[2], lut[i][1] = p[1], lut[i][2] = p[0];
    }
  }
  if (data_offset > b.size()) refuse(src.limits, ErrorKind::Corrupt, "{}: truncated BMP (no pixel data)", src.name);

  DecodedImage out;
  out.format = "BMP";
  out.image = RgbImage(width, height);
  auto out_row = [&](int64_t r) { return out.image.row(top_down ? r : height - 1 - r); };  // r: row in file order

  if (rle) {
    // Pixels the stream never sets keep index 0, as PIL's BmpRleDecoder leaves them.
    std::vector<uint8_t> idx(static_cast<size_t>(width * height), 0);
    size_t p = data_offset;
    int64_t x = 0, r = 0;
    auto put = [&](uint32_t v) {
      if (x < width && r < height) idx[static_cast<size_t>(r * width + x)] = static_cast<uint8_t>(v);
      ++x;
    };
    const bool four = compression == 2;
    while (r < height) {
      if (!b.has(p, 2)) refuse(src.limits, ErrorKind::Corrupt, "{}: truncated BMP (RLE data cut short)", src.name);
      const uint32_t n = b.ptr(p)[0], v = b.ptr(p)[1];
      p += 2;
      if (n > 0) {
        for (uint32_t i = 0; i < n; ++i) put(four ? (i % 2 ? v & 15 : v >> 4) : v);
      } else if (v == 0) {  // end of line
        x = 0, ++r;
      } else if (v == 1) {  // end of bitmap
        break;
      } else if (v == 2) {  // delta
        if (!b.has(p, 2)) refuse(src.limits, ErrorKind::Corrupt, "{}: truncated BMP (RLE data cut short)", src.name);
        x += b.ptr(p)[0], r += b.ptr(p)[1];
        p += 2;
      } else {  // absolute run of v pixels, padded to 16 bits
        const size_t bytes = four ? (v + 1) / 2 : v;
        if (!b.has(p, bytes))
          refuse(src.limits, ErrorKind::Corrupt, "{}: truncated BMP (RLE data cut short)", src.name);
        for (uint32_t i = 0; i < v; ++i) {
          const uint8_t byte = b.ptr(p)[four ? i / 2 : i];
          put(four ? (i % 2 ? byte & 15 : byte >> 4) : byte);
        }
        p += bytes + (bytes & 1);
      }
    }
    for (int64_t rr = 0; rr < height; ++rr) {
      uint8_t* o = out_row(rr);
      for (int64_t xx = 0; xx < width; ++xx, o += 3) std::memcpy(o, lut[idx[static_cast<size_t>(rr * width + xx)]], 3);
    }
  } else {
    const size_t stride = ((static_cast<size_t>(width) * bpp + 31) / 32) * 4;
    // PIL reads the rows it needs; the last row need not carry its padding.
    const size_t last = (static_cast<size_t>(width) * bpp + 7) / 8;
    if (!b.has(data_offset, stride * static_cast<size_t>(height - 1) + last))
      refuse(src.limits, ErrorKind::Corrupt, "{}: truncated BMP ({} bytes of pixels, {} needed)", src.name,
             b.size() - data_offset, stride * static_cast<size_t>(height - 1) + last);
    const Channel cr(have_masks ? masks[0] : bpp == 16 ? 0x7c00u : 0xff0000u);
    const Channel cg(have_masks ? masks[1] : bpp == 16 ? 0x03e0u : 0x00ff00u);
    const Channel cb(have_masks ? masks[2] : bpp == 16 ? 0x001fu : 0x0000ffu);
    for (int64_t r = 0; r < height; ++r) {
      const uint8_t* in = b.ptr(data_offset + stride * static_cast<size_t>(r));
      uint8_t* o = out_row(r);
      for (int64_t x = 0; x < width; ++x, o += 3) {
        switch (bpp) {
          case 1: std::memcpy(o, lut[(in[x / 8] >> (7 - x % 8)) & 1], 3); break;
          case 4: std::memcpy(o, lut[(in[x / 2] >> (x % 2 ? 0 : 4)) & 15], 3); break;
          case 8: std::memcpy(o, lut[in[x]], 3); break;
          case 24: o[0] = in[x * 3 + 2], o[1] = in[x * 3 + 1], o[2] = in[x * 3]; break;
          case 16: {
            const uint32_t px = in[x * 2] | (in[x * 2 + 1] << 8);
            o[0] = cr(px), o[1] = cg(px), o[2] = cb(px);
            break;
          }
          case 32: {
            const uint32_t px =
                in[x * 4] | (in[x * 4 + 1] << 8) | (in[x * 4 + 2] << 16) | (static_cast<uint32_t>(in[x * 4 + 3]) << 24);
            o[0] = cr(px), o[1] = cg(px), o[2] = cb(px);
            break;
          }
        }
      }
    }
  }
  return out;
}

}  // namespace ia::image::detail
