#pragma once
// An 8-bit RGB image as PIL holds one after convert("RGB"): rows top to bottom, pixels left to
// right, each pixel R, G, B. What the decoders make and the resize and processor steps take.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ia::image {

struct RgbImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // height * width * 3

  RgbImage() = default;
  RgbImage(int64_t w, int64_t h) : width(w), height(h), pixels(static_cast<size_t>(w * h * 3)) {}

  uint8_t* row(int64_t y) { return pixels.data() + static_cast<size_t>(y * width * 3); }
  const uint8_t* row(int64_t y) const { return pixels.data() + static_cast<size_t>(y * width * 3); }
  const uint8_t* at(int64_t x, int64_t y) const { return row(y) + x * 3; }
  bool empty() const { return width == 0 || height == 0; }
};

}  // namespace ia::image
