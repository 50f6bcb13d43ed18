// JPEG through libjpeg(-turbo) with PIL's settings (the library's defaults: islow IDCT, fancy
// upsampling), converted as PIL converts "L", "RGB" and "CMYK" images to RGB.
#include <cstdio>
// clang-format off: jpeglib.h needs stdio.h first
#include <jerror.h>
#include <jpeglib.h>
// clang-format on

#include <csetjmp>
#include <cstring>
#include <memory>

#include "preprocess/image/decode_internal.h"

namespace ia::image::detail {

namespace {

struct JpegState {
  jpeg_error_mgr err{};
  std::jmp_buf jump{};
  char message[JMSG_LENGTH_MAX] = {};
  bool truncated = false;
  bool dims_ok = false;
  JDIMENSION width = 0, height = 0;
  int components = 0;
  std::vector<uint8_t> pixels;  // RGB, or CMYK as libjpeg gives it
  std::vector<uint8_t> exif;
};

void error_exit(j_common_ptr cinfo) {
  auto* s = reinterpret_cast<JpegState*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, s->message);
  std::longjmp(s->jump, 1);
}

// Warnings pass (PIL decodes through them), except premature end of data, which PIL refuses as a
// truncated file: libjpeg would fill the missing rows with gray.
void emit_message(j_common_ptr cinfo, int level) {
  auto* s = reinterpret_cast<JpegState*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    s->truncated = true;
    std::snprintf(s->message, sizeof s->message, "premature end of data");
    std::longjmp(s->jump, 1);
  }
}

void output_message(j_common_ptr) {}

struct Decompress {
  jpeg_decompress_struct cinfo{};
  bool created = false;
  ~Decompress() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

bool run(Decompress& d, JpegState* s, const Source& src) {
  if (setjmp(s->jump)) return false;
  jpeg_create_decompress(&d.cinfo);
  d.created = true;
  d.cinfo.mem->max_memory_to_use = 1L << 30;
  jpeg_mem_src(&d.cinfo, src.bytes.data(), static_cast<unsigned long>(src.bytes.size()));
  jpeg_save_markers(&d.cinfo, JPEG_APP0 + 1, 0xffff);
  jpeg_read_header(&d.cinfo, TRUE);
  for (jpeg_saved_marker_ptr m = d.cinfo.marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      s->exif.assign(m->data, m->data + m->data_length);
      break;
    }
  }
  s->width = d.cinfo.image_width;
  s->height = d.cinfo.image_height;
  const int64_t w = s->width, h = s->height;
  if (w <= 0 || h <= 0 || w > src.limits.max_side || h > src.limits.max_side || w * h > src.limits.max_pixels)
    return true;
  s->dims_ok = true;
  switch (d.cinfo.jpeg_color_space) {
    case JCS_CMYK:
    case JCS_YCCK: d.cinfo.out_color_space = JCS_CMYK; break;
    default: d.cinfo.out_color_space = JCS_RGB; break;  // grayscale is replicated, as PIL's L -> RGB
  }
  jpeg_start_decompress(&d.cinfo);
  s->components = d.cinfo.output_components;
  if (s->components != 3 && s->components != 4) {
    std::snprintf(s->message, sizeof s->message, "%d output components", s->components);
    return false;
  }
  const size_t stride = static_cast<size_t>(w) * static_cast<size_t>(s->components);
  s->pixels.resize(stride * static_cast<size_t>(h));
  while (d.cinfo.output_scanline < d.cinfo.output_height) {
    JSAMPROW row = s->pixels.data() + stride * d.cinfo.output_scanline;
    jpeg_read_scanlines(&d.cinfo, &row, 1);
  }
  jpeg_finish_decompress(&d.cinfo);
  return true;
}

// PIL's MULDIV255.
inline int muldiv255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

inline uint8_t clip8(int v) {
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

}  // namespace

DecodedImage decode_jpeg(const Source& src) {
  auto state = std::make_unique<JpegState>();
  JpegState* s = state.get();
  auto d = std::make_unique<Decompress>();
  d->cinfo.err = jpeg_std_error(&s->err);
  s->err.error_exit = error_exit;
  s->err.emit_message = emit_message;
  s->err.output_message = output_message;
  if (!run(*d, s, src)) {
    if (s->truncated || std::strstr(s->message, "Premature end") || std::strstr(s->message, "empty input"))
      refuse(src.limits, ErrorKind::Corrupt, "{}: truncated JPEG ({})", src.name, s->message);
    refuse(src.limits, ErrorKind::Corrupt, "{}: malformed JPEG: {}", src.name, s->message);
  }
  if (!s->dims_ok) check_dimensions(src, "JPEG", s->width, s->height);
  DecodedImage out;
  out.format = "JPEG";
  const int64_t w = s->width, h = s->height;
  if (s->components == 3) {
    out.image.width = w;
    out.image.height = h;
    out.image.pixels = std::move(s->pixels);
  } else {
    // PIL reads a CMYK JPEG as "CMYK;I" (Adobe's inverted values, always) and converts with
    // cmyk2rgb: with c = 255 - raw and nk = 255 - k = raw k, r = nk - c * nk / 255.
    out.image = RgbImage(w, h);
    const uint8_t* in = s->pixels.data();
    uint8_t* o = out.image.pixels.data();
    for (int64_t i = 0; i < w * h; ++i, in += 4, o += 3) {
      const int nk = in[3];
      for (int c = 0; c < 3; ++c) o[c] = clip8(nk - muldiv255(255 - in[c], nk));
    }
  }
  out.orientation = exif_orientation(s->exif);
  out.image = apply_orientation(std::move(out.image), out.orientation);
  return out;
}

}  // namespace ia::image::detail
