#pragma once
// Helpers for the image front-end tests: small images written at run time with the same Debian
// libraries the decoders read them with (libpng, libjpeg, giflib, libwebp) and BMPs built byte
// by byte, so each test knows exactly what a file holds.
#include <gif_lib.h>
#include <png.h>
#include <webp/encode.h>

#include <cstdio>
// clang-format off: jpeglib.h needs stdio.h first
#include <jpeglib.h>
// clang-format on

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "preprocess/image/rgb_image.h"

namespace ia::test {

using Bytes = std::vector<uint8_t>;

// A PNG of `channels` 8- or 16-bit samples per pixel (big-endian for 16), color_type a PNG_COLOR_TYPE_*;
// palette / trns for palette images; `exif` (TIFF bytes) as an eXIf chunk when not empty.
struct PngSpec {
  int width = 0, height = 0, bit_depth = 8, color_type = PNG_COLOR_TYPE_RGB;
  Bytes data;  // rows packed, as the file stores them
  std::vector<png_color> palette;
  Bytes trns;
  Bytes exif;
  bool interlace = false;
};

inline Bytes write_png(const PngSpec& s) {
  Bytes out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return {};
  }
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep d, size_t n) {
        auto* o = static_cast<Bytes*>(png_get_io_ptr(p));
        o->insert(o->end(), d, d + n);
      },
      nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(s.width), static_cast<png_uint_32>(s.height), s.bit_depth,
               s.color_type, s.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!s.palette.empty()) png_set_PLTE(png, info, s.palette.data(), static_cast<int>(s.palette.size()));
  if (!s.trns.empty()) png_set_tRNS(png, info, s.trns.data(), static_cast<int>(s.trns.size()), nullptr);
  if (!s.exif.empty())
    png_set_eXIf_1(png, info, static_cast<png_uint_32>(s.exif.size()), const_cast<uint8_t*>(s.exif.data()));
  png_write_info(png, info);
  const size_t stride = s.data.size() / static_cast<size_t>(s.height);
  std::vector<png_bytep> rows;
  for (int y = 0; y < s.height; ++y)
    rows.push_back(const_cast<uint8_t*>(s.data.data()) + stride * static_cast<size_t>(y));
  png_write_image(png, rows.data());
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return out;
}

inline Bytes write_png_rgb(const image::RgbImage& im) {
  PngSpec s;
  s.width = static_cast<int>(im.width);
  s.height = static_cast<int>(im.height);
  s.data = im.pixels;
  return write_png(s);
}

// A TIFF (EXIF) block holding only an Orientation tag, little- or big-endian.
inline Bytes exif_orientation_block(int orientation, bool little = true) {
  auto u16 = [&](Bytes& b, uint32_t v) {
    if (little)
      b.insert(b.end(), {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)});
    else
      b.insert(b.end(), {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)});
  };
  auto u32 = [&](Bytes& b, uint32_t v) {
    if (little) {
      u16(b, v & 0xffff);
      u16(b, v >> 16);
    } else {
      u16(b, v >> 16);
      u16(b, v & 0xffff);
    }
  };
  Bytes b = little ? Bytes{'I', 'I'} : Bytes{'M', 'M'};
  u16(b, 42);
  u32(b, 8);
  u16(b, 1);       // one entry
  u16(b, 0x0112);  // Orientation
  u16(b, 3);       // SHORT
  u32(b, 1);
  u16(b, static_cast<uint32_t>(orientation));
  u16(b, 0);
  u32(b, 0);  // no next IFD
  return b;
}

// A baseline JPEG of an RGB (or, with gray, one-channel) image; `exif` (TIFF bytes) as APP1.
inline Bytes write_jpeg(const image::RgbImage& im, int quality, const Bytes& exif = {}, bool gray = false) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = static_cast<JDIMENSION>(im.width);
  c.image_height = static_cast<JDIMENSION>(im.height);
  c.input_components = gray ? 1 : 3;
  c.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  if (!exif.empty()) {
    Bytes app1 = {'E', 'x', 'i', 'f', 0, 0};
    app1.insert(app1.end(), exif.begin(), exif.end());
    jpeg_write_marker(&c, JPEG_APP0 + 1, app1.data(), static_cast<unsigned>(app1.size()));
  }
  std::vector<uint8_t> row(static_cast<size_t>(im.width * 3));
  while (c.next_scanline < c.image_height) {
    const uint8_t* src = im.row(c.next_scanline);
    if (gray) {
      for (int64_t x = 0; x < im.width; ++x) row[static_cast<size_t>(x)] = src[x * 3];
    } else {
      std::memcpy(row.data(), src, row.size());
    }
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  Bytes out(buf, buf + size);
  jpeg_destroy_compress(&c);
  std::free(buf);
  return out;
}

// A GIF of palette indices: the logical screen, then one frame (or two) with a local or global table.
struct GifFrame {
  int left = 0, top = 0, width = 0, height = 0;
  Bytes indices;
  std::vector<GifColorType> local;  // empty: the global table
  int transparency = -1;
  bool interlace = false;
};

inline Bytes write_gif(int sw, int sh, const std::vector<GifColorType>& global, const std::vector<GifFrame>& frames) {
  Bytes out;
  int err = 0;
  GifFileType* g = EGifOpen(
      &out,
      [](GifFileType* f, const GifByteType* d, int n) {
        auto* o = static_cast<Bytes*>(f->UserData);
        o->insert(o->end(), d, d + n);
        return n;
      },
      &err);
  auto make_map = [](const std::vector<GifColorType>& colors) -> ColorMapObject* {
    if (colors.empty()) return nullptr;
    return GifMakeMapObject(static_cast<int>(colors.size()), colors.data());
  };
  ColorMapObject* gmap = make_map(global);
  EGifSetGifVersion(g, true);
  EGifPutScreenDesc(g, sw, sh, 8, 0, gmap);
  for (const GifFrame& f : frames) {
    if (f.transparency >= 0) {
      GraphicsControlBlock gcb{};
      gcb.DisposalMode = DISPOSAL_UNSPECIFIED;
      gcb.TransparentColor = f.transparency;
      GifByteType ext[4];
      EGifGCBToExtension(&gcb, ext);
      EGifPutExtension(g, GRAPHICS_EXT_FUNC_CODE, 4, ext);
    }
    ColorMapObject* lmap = make_map(f.local);
    EGifPutImageDesc(g, f.left, f.top, f.width, f.height, f.interlace, lmap);
    // EGifPutLine takes rows in file order: interlaced frames in pass order.
    std::vector<int> order;
    if (f.interlace) {
      const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
      for (int p = 0; p < 4; ++p)
        for (int y = start[p]; y < f.height; y += step[p]) order.push_back(y);
    } else {
      for (int y = 0; y < f.height; ++y) order.push_back(y);
    }
    for (int y : order)
      EGifPutLine(g, const_cast<GifPixelType*>(f.indices.data()) + static_cast<size_t>(y * f.width), f.width);
    if (lmap) GifFreeMapObject(lmap);
  }
  EGifCloseFile(g, &err);
  if (gmap) GifFreeMapObject(gmap);
  return out;
}

inline Bytes write_webp_lossless(const image::RgbImage& im) {
  uint8_t* buf = nullptr;
  const size_t n = WebPEncodeLosslessRGB(im.pixels.data(), static_cast<int>(im.width), static_cast<int>(im.height),
                                         static_cast<int>(im.width * 3), &buf);
  Bytes out(buf, buf + n);
  WebPFree(buf);
  return out;
}

// A deterministic test picture: gradients and a pattern, as the fixtures' test_image.
inline image::RgbImage test_picture(int64_t w, int64_t h, int seed = 0) {
  image::RgbImage im(w, h);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* p = im.row(y) + x * 3;
      p[0] = static_cast<uint8_t>(x * 255 / std::max<int64_t>(w - 1, 1));
      p[1] = static_cast<uint8_t>(y * 255 / std::max<int64_t>(h - 1, 1));
      p[2] = static_cast<uint8_t>(((x + y + seed) % 32) * 8);
    }
  return im;
}

}  // namespace ia::test
