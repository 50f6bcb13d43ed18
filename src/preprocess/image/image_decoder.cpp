#include "preprocess/image/image_decoder.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "preprocess/image/decode_internal.h"

namespace ia::image {

namespace fs = std::filesystem;
using detail::refuse;

namespace {

bool starts(std::span<const uint8_t> b, size_t at, const char* magic, size_t len) {
  return b.size() >= at + len && std::memcmp(b.data() + at, magic, len) == 0;
}

// Image formats recognised but not decoded here, told apart from files that are not images.
std::string unsupported_format(std::span<const uint8_t> b) {
  if (starts(b, 0, "II*\0", 4) || starts(b, 0, "MM\0*", 4)) return "TIFF";
  if (starts(b, 4, "ftypavif", 8) || starts(b, 4, "ftypavis", 8)) return "AVIF";
  if (starts(b, 4, "ftypheic", 8) || starts(b, 4, "ftypheix", 8) || starts(b, 4, "ftypmif1", 8) ||
      starts(b, 4, "ftyphevc", 8))
    return "HEIF / HEIC";
  if (starts(b, 0, "\0\0\1\0", 4)) return "ICO";
  if (starts(b, 0, "8BPS", 4)) return "PSD";
  if (starts(b, 0, "\0\0\0\x0cjP  ", 8) || starts(b, 0, "\xff\x4f\xff\x51", 4)) return "JPEG 2000";
  if (starts(b, 0, "qoif", 4)) return "QOI";
  if (starts(b, 0, "\xff\x0a", 2) || starts(b, 0, "\0\0\0\x0cJXL ", 8)) return "JPEG XL";
  if (b.size() >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') return "PNM / PAM";
  return "";
}

DecodedImage decode(const detail::Source& src) {
  std::span<const uint8_t> b = src.bytes;
  if (b.empty()) refuse(src.limits, ErrorKind::InvalidArgument, "{}: empty file (0 bytes), not an image", src.name);
  if (static_cast<int64_t>(b.size()) > src.limits.max_file_bytes)
    refuse(src.limits, ErrorKind::InvalidArgument, "{}: {} bytes, more than the {} an image may have", src.name,
           b.size(), src.limits.max_file_bytes);
  if (starts(b, 0, "\x89PNG\r\n\x1a\n", 8)) return detail::decode_png(src);
  if (starts(b, 0, "\xff\xd8\xff", 3)) return detail::decode_jpeg(src);
  if (starts(b, 0, "RIFF", 4) && starts(b, 8, "WEBP", 4)) return detail::decode_webp(src);
  if (starts(b, 0, "GIF87a", 6) || starts(b, 0, "GIF89a", 6)) return detail::decode_gif(src);
  if (starts(b, 0, "BM", 2)) return detail::decode_bmp(src);
  std::string other = unsupported_format(b);
  if (!other.empty())
    refuse(src.limits, ErrorKind::Unsupported,
           "{}: {} images are not decoded here (PNG, JPEG, WebP, GIF and BMP are); convert it, e.g. to PNG", src.name,
           other);
  refuse(src.limits, ErrorKind::InvalidArgument, "{}: not an image (PNG, JPEG, WebP, GIF or BMP)", src.name);
}

}  // namespace

namespace detail {

void check_dimensions(const Source& src, const char* format, int64_t width, int64_t height) {
  if (width <= 0 || height <= 0)
    refuse(src.limits, ErrorKind::Corrupt, "{}: {} header gives an empty image ({}x{})", src.name, format, width,
           height);
  if (width > src.limits.max_side || height > src.limits.max_side)
    refuse(src.limits, ErrorKind::InvalidArgument, "{}: {}x{} {} image: a side longer than the {} pixels allowed",
           src.name, width, height, format, src.limits.max_side);
  if (width * height > src.limits.max_pixels)
    refuse(src.limits, ErrorKind::InvalidArgument,
           "{}: {}x{} {} image: {} pixels, more than the {} allowed (a decompression bomb?)", src.name, width, height,
           format, width * height, src.limits.max_pixels);
}

}  // namespace detail

DecodedImage decode_image_bytes(std::span<const uint8_t> bytes, const std::string& name, const ImageLimits& limits) {
  return decode(detail::Source{bytes, name, limits});
}

DecodedImage decode_image_file(const std::string& path, const ImageLimits& limits) {
  std::error_code ec;
  if (!fs::exists(path, ec)) refuse(limits, ErrorKind::NotFound, "{}: no such file", path);
  if (fs::is_directory(path, ec)) refuse(limits, ErrorKind::InvalidArgument, "{}: is a directory, not an image", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) refuse(limits, ErrorKind::InvalidArgument, "{}: cannot read: {}", path, std::strerror(errno));
  const uintmax_t size = fs::file_size(path, ec);
  if (!ec && size > static_cast<uintmax_t>(limits.max_file_bytes))
    refuse(limits, ErrorKind::InvalidArgument, "{}: {} bytes, more than the {} an image may have", path, size,
           limits.max_file_bytes);
  // Read in blocks up to the limit (a FIFO or a file that grows has no trustworthy size).
  std::vector<uint8_t> bytes;
  std::vector<char> block(1 << 16);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const auto got = static_cast<size_t>(in.gcount());
    if (bytes.size() + got > static_cast<size_t>(limits.max_file_bytes))
      refuse(limits, ErrorKind::InvalidArgument, "{}: more than the {} bytes an image may have", path,
             limits.max_file_bytes);
    bytes.insert(bytes.end(), block.begin(), block.begin() + static_cast<std::ptrdiff_t>(got));
  }
  if (in.bad()) refuse(limits, ErrorKind::InvalidArgument, "{}: cannot read: {}", path, std::strerror(errno));
  return decode(detail::Source{bytes, path, limits});
}

}  // namespace ia::image
