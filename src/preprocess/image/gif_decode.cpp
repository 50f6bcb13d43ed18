// The first frame of a GIF through giflib, as PIL shows it (GifImagePlugin, mode "P" or "L"),
// converted to RGB: the canvas is the logical screen (grown to hold the frame if the frame
// reaches past it), filled with the frame's transparency index, else index 0; the frame's pixels
// are written over it, every index (transparent ones too) mapped through the frame's palette (its
// local colour table, else the global one; entries past the table are black; no table, or one
// that is the identity gray ramp, makes the index the gray level).
#include <gif_lib.h>

#include <cstring>
#include <memory>

#include "preprocess/image/decode_internal.h"

namespace ia::image::detail {

namespace {

struct Reader {
  std::span<const uint8_t> data;
  size_t pos = 0;
};

int read_cb(GifFileType* gif, GifByteType* out, int n) {
  auto* r = static_cast<Reader*>(gif->UserData);
  const size_t want = n < 0 ? 0 : static_cast<size_t>(n);
  const size_t got = std::min(want, r->data.size() - r->pos);
  std::memcpy(out, r->data.data() + r->pos, got);
  r->pos += got;
  return static_cast<int>(got);
}

struct GifCloser {
  void operator()(GifFileType* g) const {
    int err = 0;
    DGifCloseFile(g, &err);
  }
};

[[noreturn]] void refuse_gif(const Source& src, int code) {
  const char* why = GifErrorString(code);
  if (code == D_GIF_ERR_READ_FAILED || code == D_GIF_ERR_EOF_TOO_SOON)
    refuse(src.limits, ErrorKind::Corrupt, "{}: truncated GIF ({})", src.name, why ? why : "read failed");
  if (code == D_GIF_ERR_NOT_ENOUGH_MEM) throw std::bad_alloc();
  refuse(src.limits, ErrorKind::Corrupt, "{}: malformed GIF: {}", src.name, why ? why : "error");
}

// PIL's _is_palette_needed: a table whose entry i is (i, i, i) throughout is no palette.
bool identity_gray(const ColorMapObject* map) {
  for (int i = 0; i < map->ColorCount; ++i) {
    const GifColorType& c = map->Colors[i];
    if (c.Red != i || c.Green != i || c.Blue != i) return false;
  }
  return true;
}

}  // namespace

DecodedImage decode_gif(const Source& src) {
  Reader reader{src.bytes, 0};
  int err = 0;
  std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&reader, read_cb, &err));
  if (!gif) refuse_gif(src, err);
  int64_t width = gif->SWidth, height = gif->SHeight;
  check_dimensions(src, "GIF", std::max<int64_t>(width, 1), std::max<int64_t>(height, 1));
  int transparency = -1;
  for (;;) {
    GifRecordType type;
    if (DGifGetRecordType(gif.get(), &type) == GIF_ERROR) refuse_gif(src, gif->Error);
    if (type == TERMINATE_RECORD_TYPE) refuse(src.limits, ErrorKind::Corrupt, "{}: GIF without an image", src.name);
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* block = nullptr;
      if (DGifGetExtension(gif.get(), &code, &block) == GIF_ERROR) refuse_gif(src, gif->Error);
      if (code == GRAPHICS_EXT_FUNC_CODE && block && block[0] >= 4) {
        // block[0] is the length; flags, delay (2), transparent index
        transparency = (block[1] & 1) ? block[4] : -1;
      }
      while (block) {
        if (DGifGetExtensionNext(gif.get(), &block) == GIF_ERROR) refuse_gif(src, gif->Error);
      }
      continue;
    }
    if (type != IMAGE_DESC_RECORD_TYPE) continue;
    if (DGifGetImageDesc(gif.get()) == GIF_ERROR) refuse_gif(src, gif->Error);
    const GifImageDesc& d = gif->Image;
    const int64_t x0 = d.Left, y0 = d.Top, fw = d.Width, fh = d.Height;
    width = std::max(width, x0 + fw);
    height = std::max(height, y0 + fh);
    check_dimensions(src, "GIF", width, height);
    const ColorMapObject* map = d.ColorMap ? d.ColorMap : gif->SColorMap;
    const bool gray = !map || identity_gray(map);
    uint8_t lut[256][3] = {};
    for (int i = 0; i < 256; ++i) {
      if (gray) {
        lut[i][0] = lut[i][1] = lut[i][2] = static_cast<uint8_t>(i);
      } else if (i < map->ColorCount) {
        lut[i][0] = map->Colors[i].Red, lut[i][1] = map->Colors[i].Green, lut[i][2] = map->Colors[i].Blue;
      }
    }
    DecodedImage out;
    out.format = "GIF";
    out.image = RgbImage(width, height);
    const uint8_t* fill = lut[transparency >= 0 ? transparency : 0];
    for (int64_t i = 0; i < width * height; ++i) std::memcpy(out.image.pixels.data() + i * 3, fill, 3);
    std::vector<GifPixelType> line(static_cast<size_t>(std::max<int64_t>(fw, 1)));
    auto put_row = [&](int64_t y) {
      if (DGifGetLine(gif.get(), line.data(), static_cast<int>(fw)) == GIF_ERROR) refuse_gif(src, gif->Error);
      uint8_t* o = out.image.row(y0 + y) + x0 * 3;
      for (int64_t x = 0; x < fw; ++x, o += 3) std::memcpy(o, lut[line[static_cast<size_t>(x)]], 3);
    };
    if (fw > 0) {
      if (d.Interlace) {
        static constexpr int kStart[4] = {0, 4, 2, 1}, kStep[4] = {8, 8, 4, 2};
        for (int pass = 0; pass < 4; ++pass)
          for (int64_t y = kStart[pass]; y < fh; y += kStep[pass]) put_row(y);
      } else {
        for (int64_t y = 0; y < fh; ++y) put_row(y);
      }
    }
    return out;  // GIF has no EXIF orientation PIL reads
  }
}

}  // namespace ia::image::detail
