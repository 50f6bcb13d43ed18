#pragma once
// Image.resize of Pillow on an 8-bit RGB image, pixel for pixel: the filters of
// libImaging/Resample.c (box, bilinear, hamming, bicubic with a = -0.5, lanczos with 3 lobes),
// whose support widens by the scale when shrinking (antialiasing), applied as two separable
// passes (horizontal, then vertical) in 22-bit fixed point with rounding and clipping to 8 bits
// after each pass; nearest neighbour as Pillow's affine nearest (the pixel under each output
// pixel's centre). A size equal to the image's is a copy. Written from the algorithm's
// description in Pillow's sources; no code is copied.
#include <cstdint>
#include <string>

#include "preprocess/image/rgb_image.h"

namespace ia::image {

// PIL.Image.Resampling's values, as preprocessor configs give them ("resample": 2).
enum class Resample { Nearest = 0, Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 };

const char* resample_name(Resample r);

// `in` resized to width x height (both >= 1).
RgbImage resize(const RgbImage& in, int64_t width, int64_t height, Resample filter);

}  // namespace ia::image
