// PNG through libpng, converted as PIL opens a PNG and converts it to RGB (see image_decoder.h).
#include <png.h>

#include <cstring>
#include <memory>

#include "preprocess/image/decode_internal.h"

namespace ia::image::detail {

namespace {

// Everything libpng's callbacks and the code after a longjmp touch lives here, on the heap: the
// function that called setjmp only holds a pointer to it that never changes.
struct PngState {
  std::span<const uint8_t> data;
  size_t pos = 0;
  bool truncated = false;
  char message[200] = {};
  enum Stage { Header, Pixels, End } stage = Header;
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0;
  bool gray16 = false;  // 16-bit grayscale without alpha: PIL's "I;16"
  std::vector<uint8_t> pixels;
  std::vector<png_bytep> rows;
  std::vector<uint8_t> exif;
  bool dims_ok = false;
};

void read_cb(png_structp png, png_bytep out, size_t n) {
  auto* s = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > s->data.size() - s->pos) {
    s->truncated = true;
    png_error(png, "unexpected end of file");
  }
  std::memcpy(out, s->data.data() + s->pos, n);
  s->pos += n;
}

void error_cb(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof s->message, "%s", msg ? msg : "error");
  png_longjmp(png, 1);
}

void warning_cb(png_structp, png_const_charp) {}

struct PngRead {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngRead() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

void collect_exif(png_structp png, png_infop info, PngState* s) {
#ifdef PNG_eXIf_SUPPORTED
  png_uint_32 n = 0;
  png_bytep exif = nullptr;
  if (s->exif.empty() && png_get_eXIf_1(png, info, &n, &exif) != 0 && exif && n > 0) s->exif.assign(exif, exif + n);
#endif
}

// The decode proper; false after a libpng error (s->message says which). `check` runs once the
// header is read, before anything is allocated, and may throw: it is called outside libpng.
bool run(PngRead& r, PngState* s, const Source& src) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_set_read_fn(r.png, s, read_cb);
  png_set_user_limits(r.png, 0x7fffffff, 0x7fffffff);  // ours are checked below
  png_read_info(r.png, r.info);
  png_get_IHDR(r.png, r.info, &s->width, &s->height, &s->bit_depth, &s->color_type, nullptr, nullptr, nullptr);
  collect_exif(r.png, r.info, s);
  const int64_t w = s->width, h = s->height;
  if (w <= 0 || h <= 0 || w > src.limits.max_side || h > src.limits.max_side || w * h > src.limits.max_pixels)
    return true;  // the caller refuses with the dimensions (outside libpng's jump buffer)
  s->dims_ok = true;
  s->stage = PngState::Pixels;
  s->gray16 = s->bit_depth == 16 && s->color_type == PNG_COLOR_TYPE_GRAY;
  if (s->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r.png);
  if (s->color_type == PNG_COLOR_TYPE_GRAY && s->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(r.png);
  if (s->bit_depth == 16 && !s->gray16) png_set_strip_16(r.png);  // the high byte, as PIL's ";16B" rawmodes
  if (s->gray16) png_set_swap(r.png);                             // host (little-endian) order
  png_set_strip_alpha(r.png);
  if (!s->gray16) png_set_gray_to_rgb(r.png);
  png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);
  const size_t rowbytes = png_get_rowbytes(r.png, r.info);
  const size_t want = s->gray16 ? static_cast<size_t>(w) * 2 : static_cast<size_t>(w) * 3;
  if (rowbytes != want) png_error(r.png, "unexpected row layout after conversion");
  s->pixels.resize(rowbytes * static_cast<size_t>(h));
  s->rows.resize(static_cast<size_t>(h));
  for (int64_t y = 0; y < h; ++y)
    s->rows[static_cast<size_t>(y)] = s->pixels.data() + rowbytes * static_cast<size_t>(y);
  png_read_image(r.png, s->rows.data());
  s->stage = PngState::End;
  png_read_end(r.png, r.info);  // an eXIf chunk after the pixels
  collect_exif(r.png, r.info, s);
  return true;
}

}  // namespace

DecodedImage decode_png(const Source& src) {
  auto state = std::make_unique<PngState>();
  PngState* s = state.get();
  s->data = src.bytes;
  PngRead r;
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, error_cb, warning_cb);
  if (!r.png) throw std::bad_alloc();
  r.info = png_create_info_struct(r.png);
  if (!r.info) throw std::bad_alloc();
  const bool ok = run(r, s, src);
  // A broken chunk after the pixels (a missing IEND, say) loses nothing PIL would show.
  if (!ok && s->stage != PngState::End) {
    if (s->truncated)
      refuse(src.limits, ErrorKind::Corrupt, "{}: truncated PNG ({} while reading {})", src.name, s->message,
             s->stage == PngState::Header ? "the header" : "the pixels");
    refuse(src.limits, ErrorKind::Corrupt, "{}: malformed PNG: {}", src.name, s->message);
  }
  if (!s->dims_ok) check_dimensions(src, "PNG", s->width, s->height);
  DecodedImage out;
  out.format = "PNG";
  const int64_t w = s->width, h = s->height;
  if (s->gray16) {
    out.image = RgbImage(w, h);
    const uint16_t* in = reinterpret_cast<const uint16_t*>(s->pixels.data());
    uint8_t* o = out.image.pixels.data();
    for (int64_t i = 0; i < w * h; ++i, o += 3) {
      const uint16_t v = in[i];
      o[0] = o[1] = o[2] = static_cast<uint8_t>(v < 256 ? v : 255);  // PIL's I;16 -> RGB clips
    }
  } else {
    out.image.width = w;
    out.image.height = h;
    out.image.pixels = std::move(s->pixels);
  }
  out.orientation = exif_orientation(s->exif);
  out.image = apply_orientation(std::move(out.image), out.orientation);
  return out;
}

}  // namespace ia::image::detail
