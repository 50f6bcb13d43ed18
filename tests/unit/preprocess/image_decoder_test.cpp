#include "preprocess/image/image_decoder.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "formats/json_messages.h"
#include "preprocess/image/resize.h"
#include "unit/preprocess/audio_test_util.h"
#include "unit/preprocess/image_test_util.h"

namespace ia::image {
namespace {

using test::Bytes;
using test::expect_error;
using test::TempDir;
using test::write_bytes;

const std::string kImages = std::string(IA_FIXTURES_DIR) + "/images";

DecodedImage decode(const Bytes& b, const std::string& name = "test") {
  return decode_image_bytes(std::span<const uint8_t>(b.data(), b.size()), name);
}

// The CRC-32 PNG chunks carry (ISO 3309, reflected, polynomial 0xedb88320).
uint32_t png_crc(const uint8_t* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}

int max_diff(const RgbImage& a, const RgbImage& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  if (a.pixels.size() != b.pixels.size()) return 256;
  int m = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(a.pixels[i] - b.pixels[i]));
  return m;
}

// Every file tools/fixtures/make_image_fixtures.py wrote, decoded as PIL loads it for transformers
// (Image.open, exif_transpose, convert("RGB")): identical, or within the tolerance the manifest
// gives lossy formats decoded by another library build.
TEST(ImageDecoder, MatchesPilOnEveryFixture) {
  nlohmann::json m = read_json_file(kImages + "/manifest.json");
  ASSERT_GT(m["cases"].size(), 20u);
  for (const auto& c : m["cases"]) {
    const std::string file = c["file"];
    SCOPED_TRACE(file);
    DecodedImage got = decode_image_file(kImages + "/" + file);
    DecodedImage want = decode_image_file(kImages + "/" + c["expected"].get<std::string>());
    EXPECT_LE(max_diff(got.image, want.image), c["tolerance"].get<int>()) << file;
  }
}

// Image.resize with every filter, shrinking, enlarging and along one axis: pixel for pixel.
TEST(ImageResize, MatchesPilEveryFilter) {
  nlohmann::json m = read_json_file(kImages + "/manifest.json");
  RgbImage src = decode_image_file(kImages + "/resize_source.png").image;
  ASSERT_EQ(src.width, 37);
  for (const auto& r : m["resize"]) {
    const std::string what = r["expected"];
    SCOPED_TRACE(what);
    RgbImage got = resize(src, r["width"].get<int64_t>(), r["height"].get<int64_t>(),
                          static_cast<Resample>(r["filter"].get<int>()));
    RgbImage want = decode_image_file(kImages + "/" + what).image;
    EXPECT_EQ(max_diff(got, want), 0) << what;
  }
}

TEST(ImageResize, IdentityAndConstants) {
  RgbImage im = test::test_picture(9, 7);
  for (int f = 0; f <= 5; ++f) EXPECT_EQ(resize(im, 9, 7, static_cast<Resample>(f)).pixels, im.pixels);
  // A constant image stays constant whatever the filter and scale.
  RgbImage flat(12, 8);
  for (size_t i = 0; i < flat.pixels.size(); ++i) flat.pixels[i] = static_cast<uint8_t>(i % 3 == 0 ? 200 : 37);
  for (int f = 0; f <= 5; ++f)
    for (auto [w, h] : {std::pair{6, 4}, std::pair{5, 3}, std::pair{25, 17}, std::pair{1, 1}}) {
      RgbImage r = resize(flat, w, h, static_cast<Resample>(f));
      for (size_t i = 0; i < r.pixels.size(); ++i) ASSERT_EQ(r.pixels[i], i % 3 == 0 ? 200 : 37) << f << " " << w;
    }
  // [0, 255] halved with bilinear: weights 1/2 each, 127.5 rounds up in Pillow's fixed point.
  RgbImage two(2, 1);
  two.pixels = {0, 0, 0, 255, 255, 255};
  EXPECT_EQ(resize(two, 1, 1, Resample::Bilinear).pixels, (std::vector<uint8_t>{128, 128, 128}));
  // Nearest halving takes the pixel under each output pixel's centre: columns 1 and 3.
  RgbImage four(4, 1);
  four.pixels = {10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40};
  EXPECT_EQ(resize(four, 2, 1, Resample::Nearest).pixels, (std::vector<uint8_t>{20, 20, 20, 40, 40, 40}));
}

// EXIF orientation of a JPEG written here with libjpeg: a 16x8 picture whose left half is red and
// right half blue, turned as exif_transpose turns it.
TEST(ImageDecoder, JpegExifOrientation) {
  RgbImage im(16, 8);
  for (int64_t y = 0; y < 8; ++y)
    for (int64_t x = 0; x < 16; ++x) {
      uint8_t* p = im.row(y) + x * 3;
      p[0] = x < 8 ? 255 : 0, p[1] = 0, p[2] = x < 8 ? 0 : 255;
    }
  auto red = [](const RgbImage& r, int64_t x, int64_t y) { return r.at(x, y)[0] > 200 && r.at(x, y)[2] < 60; };
  auto blue = [](const RgbImage& r, int64_t x, int64_t y) { return r.at(x, y)[2] > 200 && r.at(x, y)[0] < 60; };
  for (int o = 1; o <= 8; ++o) {
    SCOPED_TRACE(o);
    DecodedImage d = decode(test::write_jpeg(im, 95, test::exif_orientation_block(o, o % 2 == 0)));
    EXPECT_EQ(d.orientation, o);
    const RgbImage& r = d.image;
    if (o >= 5) {
      ASSERT_EQ(r.width, 8);
      ASSERT_EQ(r.height, 16);
      // The left (red) half ends on top for 5 (transpose) and 6 (90 clockwise), at the bottom for 7
      // (transverse) and 8 (90 counter-clockwise).
      const bool red_on_top = o == 5 || o == 6;
      EXPECT_EQ(red(r, 4, 3), red_on_top);
      EXPECT_EQ(blue(r, 4, 12), red_on_top);
    } else {
      ASSERT_EQ(r.width, 16);
      ASSERT_EQ(r.height, 8);
      const bool red_left = o == 1 || o == 4;
      EXPECT_EQ(red(r, 3, 4), red_left);
      EXPECT_EQ(blue(r, 12, 4), red_left);
    }
  }
}

// Orientation 6 and 8 on a lossless PNG (eXIf) with distinct pixels: exact positions.
TEST(ImageDecoder, PngExifOrientationExact) {
  RgbImage im = test::test_picture(5, 3);
  for (int o : {2, 3, 4, 5, 6, 7, 8}) {
    test::PngSpec s;
    s.width = 5, s.height = 3, s.data = im.pixels, s.exif = test::exif_orientation_block(o);
    DecodedImage d = decode(test::write_png(s));
    ASSERT_EQ(d.orientation, o);
    const RgbImage& r = d.image;
    // Where in the source each corner of the result comes from.
    const int64_t W = 5, H = 3;
    auto same = [&](int64_t rx, int64_t ry, int64_t sx, int64_t sy) {
      EXPECT_EQ(std::memcmp(r.at(rx, ry), im.at(sx, sy), 3), 0) << "o=" << o << " (" << rx << "," << ry << ")";
    };
    switch (o) {
      case 2: same(0, 0, W - 1, 0); break;
      case 3: same(0, 0, W - 1, H - 1); break;
      case 4: same(0, 0, 0, H - 1); break;
      case 5: same(2, 0, 0, 2); break;          // transpose: (x, y) <- (y, x)
      case 6: same(0, 0, 0, H - 1); break;      // clockwise: the top-left comes from the bottom-left
      case 7: same(0, 0, W - 1, H - 1); break;  // transverse
      case 8: same(0, 0, W - 1, 0); break;      // counter-clockwise: from the top-right
    }
  }
}

TEST(ImageDecoder, AlphaIsDroppedNotComposited) {
  test::PngSpec s;
  s.width = 2, s.height = 1, s.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
  s.data = {10, 20, 30, 0, 200, 100, 50, 128};
  EXPECT_EQ(decode(test::write_png(s)).image.pixels, (std::vector<uint8_t>{10, 20, 30, 200, 100, 50}));
  // Palette with tRNS: the transparent entry keeps its colour. Interlaced, too.
  test::PngSpec p;
  p.width = 3, p.height = 2, p.color_type = PNG_COLOR_TYPE_PALETTE, p.interlace = true;
  p.palette = {{1, 2, 3}, {40, 50, 60}};
  p.trns = {0, 255};
  p.data = {0, 1, 0, 1, 1, 0};
  EXPECT_EQ(decode(test::write_png(p)).image.pixels,
            (std::vector<uint8_t>{1, 2, 3, 40, 50, 60, 1, 2, 3, 40, 50, 60, 40, 50, 60, 1, 2, 3}));
  // 16-bit grayscale: PIL's "I;16" clips at 255; 16-bit RGB keeps the high byte.
  test::PngSpec g;
  g.width = 3, g.height = 1, g.bit_depth = 16, g.color_type = PNG_COLOR_TYPE_GRAY;
  g.data = {0, 7, 0, 255, 0x12, 0x34};
  EXPECT_EQ(decode(test::write_png(g)).image.pixels, (std::vector<uint8_t>{7, 7, 7, 255, 255, 255, 255, 255, 255}));
  test::PngSpec c;
  c.width = 1, c.height = 1, c.bit_depth = 16, c.color_type = PNG_COLOR_TYPE_RGB;
  c.data = {0x12, 0x34, 0xab, 0xcd, 0x00, 0xff};
  EXPECT_EQ(decode(test::write_png(c)).image.pixels, (std::vector<uint8_t>{0x12, 0xab, 0x00}));
}

TEST(ImageDecoder, GifFirstFrame) {
  std::vector<GifColorType> global = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  test::GifFrame f1;
  f1.left = 1, f1.top = 1, f1.width = 2, f1.height = 2, f1.indices = {1, 2, 3, 1}, f1.transparency = 2;
  test::GifFrame f2 = f1;
  f2.indices = {3, 3, 3, 3};
  DecodedImage d = decode(test::write_gif(4, 3, global, {f1, f2}));
  EXPECT_EQ(d.format, "GIF");
  ASSERT_EQ(d.image.width, 4);
  ASSERT_EQ(d.image.height, 3);
  // Outside the frame: the transparency index's colour (green); inside: the first frame, its
  // transparent pixel keeping the colour of index 2.
  EXPECT_EQ(std::vector<uint8_t>(d.image.at(0, 0), d.image.at(0, 0) + 3), (std::vector<uint8_t>{0, 255, 0}));
  EXPECT_EQ(std::vector<uint8_t>(d.image.at(1, 1), d.image.at(1, 1) + 3), (std::vector<uint8_t>{255, 0, 0}));
  EXPECT_EQ(std::vector<uint8_t>(d.image.at(2, 1), d.image.at(2, 1) + 3), (std::vector<uint8_t>{0, 255, 0}));
  EXPECT_EQ(std::vector<uint8_t>(d.image.at(1, 2), d.image.at(1, 2) + 3), (std::vector<uint8_t>{0, 0, 255}));
  // Interlaced rows land where they belong; a local table wins over the global one.
  test::GifFrame il;
  il.width = 1, il.height = 9, il.interlace = true,
  il.local = {{9, 9, 9}, {1, 1, 1}, {2, 2, 2}, {3, 3, 3}, {4, 4, 4}, {5, 5, 5}, {6, 6, 6}, {7, 7, 7}};
  il.indices = {0, 1, 2, 3, 4, 5, 6, 7, 0};
  DecodedImage di = decode(test::write_gif(1, 9, global, {il}));
  for (int y = 0; y < 9; ++y) EXPECT_EQ(di.image.at(0, y)[0], y % 8 == 0 ? 9 : y) << y;
}

TEST(ImageDecoder, WebpAndBmp) {
  RgbImage im = test::test_picture(7, 5);
  DecodedImage w = decode(test::write_webp_lossless(im));
  EXPECT_EQ(w.format, "WebP");
  EXPECT_EQ(w.image.pixels, im.pixels);
  // A 24-bit bottom-up BMP built by hand: 2x2, rows padded to 8 bytes.
  Bytes bmp = {'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 24, 0};
  bmp.resize(54, 0);
  // bottom row first: (B, G, R)
  for (uint8_t v : {3, 2, 1, 6, 5, 4, 0, 0, 9, 8, 7, 12, 11, 10, 0, 0}) bmp.push_back(v);
  DecodedImage b = decode(bmp);
  EXPECT_EQ(b.image.pixels, (std::vector<uint8_t>{7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6}));
}

// Bad input: one line each, of the right kind, and no allocation for an absurd header.
TEST(ImageDecoder, RefusesBadInput) {
  TempDir dir;
  expect_error([&] { decode_image_file(dir.file("missing.png")); }, ErrorKind::NotFound,
               {"missing.png", "no such file"});
  expect_error([&] { decode_image_file(dir.path()); }, ErrorKind::InvalidArgument, {"directory"});
  write_bytes(dir.file("empty.png"), "");
  expect_error([&] { decode_image_file(dir.file("empty.png")); }, ErrorKind::InvalidArgument, {"empty.png", "empty"});
  write_bytes(dir.file("notes.jpg"), "these are my notes, not a picture\n");
  expect_error([&] { decode_image_file(dir.file("notes.jpg")); }, ErrorKind::InvalidArgument,
               {"notes.jpg", "not an image"});
  expect_error(
      [&] {
        decode(Bytes{'I', 'I', '*', 0, 8, 0, 0, 0}, "scan.tif");
      },
      ErrorKind::Unsupported, {"scan.tif", "TIFF"});

  const RgbImage im = test::test_picture(40, 30);
  const Bytes png = test::write_png_rgb(im), jpg = test::write_jpeg(im, 90), webp = test::write_webp_lossless(im);
  std::vector<GifColorType> pal = {{0, 0, 0}, {255, 255, 255}};
  test::GifFrame gf;
  gf.width = 40, gf.height = 30, gf.indices.assign(1200, 1);
  const Bytes gif = test::write_gif(40, 30, pal, {gf});
  for (auto [name, bytes] : {std::pair{"cut.png", &png}, std::pair{"cut.jpg", &jpg}, std::pair{"cut.webp", &webp},
                             std::pair{"cut.gif", &gif}}) {
    Bytes cut(bytes->begin(), bytes->begin() + static_cast<std::ptrdiff_t>(bytes->size() * 2 / 3));
    expect_error([&] { decode(cut, name); }, ErrorKind::Corrupt, {name, "truncated"});
  }
  Bytes header_only(png.begin(), png.begin() + 40);
  expect_error([&] { decode(header_only, "header.png"); }, ErrorKind::Corrupt, {"header.png"});

  // A 100000x100000 PNG header (valid CRC, no pixels): refused from the header alone.
  test::PngSpec big;
  big.width = 1, big.height = 1, big.data = {0, 0, 0};
  Bytes huge = test::write_png(big);
  const uint8_t dims[8] = {0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0};  // 100000 big-endian, twice
  std::memcpy(huge.data() + 16, dims, 8);
  const uint32_t crc = png_crc(huge.data() + 12, 17);  // the IHDR chunk's type and data
  for (int i = 0; i < 4; ++i) huge[29 + static_cast<size_t>(i)] = static_cast<uint8_t>(crc >> (24 - 8 * i));
  expect_error([&] { decode(huge, "bomb.png"); }, ErrorKind::InvalidArgument, {"bomb.png", "100000x100000"});
  // The same for a GIF's logical screen and a BMP header.
  Bytes gif_bomb = gif;
  gif_bomb[6] = 0xff, gif_bomb[7] = 0xff, gif_bomb[8] = 0xff, gif_bomb[9] = 0xff;
  expect_error([&] { decode(gif_bomb, "bomb.gif"); }, ErrorKind::InvalidArgument, {"bomb.gif", "65535x65535"});
  Bytes bmp_bomb = {'B', 'M', 0, 0,    0,    0, 0, 0,    0,    0, 54, 0, 0, 0,  40,
                    0,   0,   0, 0xa0, 0x86, 1, 0, 0xa0, 0x86, 1, 0,  1, 0, 24, 0};
  bmp_bomb.resize(60, 0);
  expect_error([&] { decode(bmp_bomb, "bomb.bmp"); }, ErrorKind::InvalidArgument, {"bomb.bmp", "100000x100000"});
  // Limits are the caller's: a server makes every refusal the client's error.
  ImageLimits strict;
  strict.max_pixels = 100;
  strict.kind = ErrorKind::InvalidArgument;
  expect_error([&] { decode_image_bytes(std::span<const uint8_t>(png.data(), png.size()), "up.png", strict); },
               ErrorKind::InvalidArgument, {"up.png", "1200 pixels"});
  Bytes cut(png.begin(), png.begin() + 100);
  ImageLimits server;
  server.kind = ErrorKind::InvalidArgument;
  expect_error([&] { decode_image_bytes(std::span<const uint8_t>(cut.data(), cut.size()), "up.png", server); },
               ErrorKind::InvalidArgument, {"up.png", "truncated"});
}

}  // namespace
}  // namespace ia::image
