#include "preprocess/image/resize.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::image {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double box_filter(double x) {
  return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
}
double bilinear_filter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
double hamming_filter(double x) {
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x *= M_PI;
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));  // float constants, as Pillow writes them
}
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}
double lanczos_filter(double x) {
  return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
}

struct Filter {
  double (*fn)(double);
  double support;
};

Filter filter_for(Resample r) {
  switch (r) {
    case Resample::Box: return {box_filter, 0.5};
    case Resample::Bilinear: return {bilinear_filter, 1.0};
    case Resample::Hamming: return {hamming_filter, 1.0};
    case Resample::Bicubic: return {bicubic_filter, 2.0};
    case Resample::Lanczos: return {lanczos_filter, 3.0};
    case Resample::Nearest: break;
  }
  IA_CHECK(false, "resize: no convolution filter for nearest");
  return {};
}

// For each output pixel: the first input pixel it reads, how many, and their fixed-point weights
// (ksize per output pixel).
struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> k;
};

Coeffs precompute(int64_t in_size, int64_t out_size, const Filter& f) {
  const double scale = static_cast<double>(static_cast<float>(in_size) - 0.0f) / static_cast<double>(out_size);
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = f.support * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(static_cast<size_t>(out_size));
  c.count.resize(static_cast<size_t>(out_size));
  c.k.assign(static_cast<size_t>(out_size) * static_cast<size_t>(c.ksize), 0);
  std::vector<double> w(static_cast<size_t>(c.ksize));
  const double inv = 1.0 / filterscale;
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = 0.0 + (static_cast<double>(xx) + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = static_cast<int>(in_size);
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double v = f.fn((x + xmin - center + 0.5) * inv);
      w[static_cast<size_t>(x)] = v;
      ww += v;
    }
    int32_t* k = c.k.data() + xx * c.ksize;
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[static_cast<size_t>(x)] / ww : w[static_cast<size_t>(x)];
      k[x] = v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                   : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.first[static_cast<size_t>(xx)] = xmin;
    c.count[static_cast<size_t>(xx)] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t ss) {
  const int32_t v = ss >> kPrecisionBits;  // arithmetic shift, as Pillow's (C++20 defines it)
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Rows [y0, y0 + out.height) of `in`, each resampled horizontally to out.width.
void horizontal(const RgbImage& in, int64_t y0, const Coeffs& c, RgbImage& out) {
  parallel_for(out.height, std::max<int64_t>(1, 4096 / std::max<int64_t>(out.width, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t y = r0; y < r1; ++y) {
      const uint8_t* src = in.row(y + y0);
      uint8_t* dst = out.row(y);
      for (int64_t xx = 0; xx < out.width; ++xx) {
        const int xmin = c.first[static_cast<size_t>(xx)], n = c.count[static_cast<size_t>(xx)];
        const int32_t* k = c.k.data() + xx * c.ksize;
        int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
        const uint8_t* p = src + static_cast<int64_t>(xmin) * 3;
        for (int x = 0; x < n; ++x, p += 3) {
          s0 += p[0] * k[x];
          s1 += p[1] * k[x];
          s2 += p[2] * k[x];
        }
        dst[xx * 3] = clip8(s0), dst[xx * 3 + 1] = clip8(s1), dst[xx * 3 + 2] = clip8(s2);
      }
    }
  });
}

void vertical(const RgbImage& in, const Coeffs& c, int64_t shift, RgbImage& out) {
  const int64_t W = out.width;
  parallel_for(out.height, std::max<int64_t>(1, 4096 / std::max<int64_t>(W, 1)), [&](int64_t r0, int64_t r1) {
    std::vector<int32_t> acc(static_cast<size_t>(W * 3));
    for (int64_t yy = r0; yy < r1; ++yy) {
      const int ymin = c.first[static_cast<size_t>(yy)] - static_cast<int>(shift), n = c.count[static_cast<size_t>(yy)];
      const int32_t* k = c.k.data() + yy * c.ksize;
      std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
      for (int y = 0; y < n; ++y) {
        const uint8_t* src = in.row(ymin + y);
        const int32_t ky = k[y];
        for (int64_t i = 0; i < W * 3; ++i) acc[static_cast<size_t>(i)] += src[i] * ky;
      }
      uint8_t* dst = out.row(yy);
      for (int64_t i = 0; i < W * 3; ++i) dst[i] = clip8(acc[static_cast<size_t>(i)]);
    }
  });
}

// Pillow's affine nearest (ImagingScaleAffine): the source pixel under each output pixel's
// centre, the positions accumulated in double as Pillow steps them; pixels past the source stay 0.
RgbImage nearest(const RgbImage& in, int64_t width, int64_t height) {
  RgbImage out(width, height);
  const double ax = static_cast<double>(static_cast<float>(in.width)) / static_cast<double>(width);
  const double ay = static_cast<double>(static_cast<float>(in.height)) / static_cast<double>(height);
  auto coord = [](double v) { return v < 0.0 ? -1 : static_cast<int64_t>(v); };
  std::vector<int64_t> xs(static_cast<size_t>(width), -1);
  double xo = ax * 0.5;
  for (int64_t x = 0; x < width; ++x, xo += ax) {
    const int64_t xin = coord(xo);
    if (xin >= 0 && xin < in.width) xs[static_cast<size_t>(x)] = xin;
  }
  double yo = ay * 0.5;
  for (int64_t y = 0; y < height; ++y, yo += ay) {
    const int64_t yi = coord(yo);
    if (yi < 0 || yi >= in.height) continue;
    const uint8_t* src = in.row(yi);
    uint8_t* dst = out.row(y);
    for (int64_t x = 0; x < width; ++x)
      if (xs[static_cast<size_t>(x)] >= 0) std::memcpy(dst + x * 3, src + xs[static_cast<size_t>(x)] * 3, 3);
  }
  return out;
}

}  // namespace

const char* resample_name(Resample r) {
  switch (r) {
    case Resample::Nearest: return "nearest";
    case Resample::Lanczos: return "lanczos";
    case Resample::Bilinear: return "bilinear";
    case Resample::Bicubic: return "bicubic";
    case Resample::Box: return "box";
    case Resample::Hamming: return "hamming";
  }
  return "?";
}

RgbImage resize(const RgbImage& in, int64_t width, int64_t height, Resample filter) {
  IA_CHECK(width >= 1 && height >= 1 && !in.empty(), "resize: {}x{} -> {}x{}", in.width, in.height, width, height);
  if (width == in.width && height == in.height) return in;
  if (filter == Resample::Nearest) return nearest(in, width, height);
  const Filter f = filter_for(filter);
  const bool need_h = width != in.width, need_v = height != in.height;
  const Coeffs cv = precompute(in.height, height, f);
  // Only the source rows the vertical pass reads go through the horizontal one.
  const int64_t y_first = cv.first.front();
  const int64_t y_last = static_cast<int64_t>(cv.first.back()) + cv.count.back();
  RgbImage tmp;
  const RgbImage* src = &in;
  int64_t shift = 0;
  if (need_h) {
    const Coeffs ch = precompute(in.width, width, f);
    tmp = RgbImage(width, y_last - y_first);
    horizontal(in, y_first, ch, tmp);
    src = &tmp;
    shift = y_first;
  }
  if (!need_v) return tmp;
  RgbImage out(width, height);
  vertical(*src, cv, shift, out);
  return out;
}

}  // namespace ia::image
