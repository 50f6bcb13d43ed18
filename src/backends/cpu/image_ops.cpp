// Convolutional backbone ops on channels-last images: conv2d (oneDNN's convolution primitive,
// dnnl_conv.h; where it has no kernel, or IA_CPU_DNNL_CONV=0, im2col in chunks of output pixels,
// then one oneDNN GEMM per group against the weights as the checkpoint stores them, a 1x1
// stride-1 convolution being the GEMM on the input itself) and max_pool2d.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "backends/cpu/cpu_common.h"
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/dnnl_conv.h"
#include "backends/cpu/dnnl_gemm.h"
#include "backends/cpu/kernels.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::cpu {
namespace {

using dt = dnnl::memory::data_type;

// Floats of im2col buffer per chunk of output pixels (16 MiB): a ResNet stem on an 800x1066
// image would otherwise gather 213k x 147 floats at once.
constexpr int64_t kColumnBudget = int64_t{4} << 20;

// out rows [rows, Og] at a row stride of Cout = src [rows, K] @ w_g [Og, K]^T + bias_g.
void gemm_into(const float* src, int64_t rows, int64_t K, const float* wg, const float* bg, int64_t Og, int64_t Cout,
               float* dst, std::vector<float>& block) {
  const MatDesc src_d = mat_desc(dt::f32, {rows, K}, {K, 1}), wei_d = mat_desc(dt::f32, {K, Og}, {1, K});
  if (Og == Cout) {
    dnnl_matmul(src_d, src, wei_d, wg, bg, mat_desc(dt::f32, {rows, Og}, {Og, 1}), dst);
    return;
  }
  // A group's columns: through a contiguous block (oneDNN is slow or refuses a destination whose
  // row stride is wider than its rows), as conv1d does.
  block.resize(static_cast<size_t>(rows * Og));
  dnnl_matmul(src_d, src, wei_d, wg, bg, mat_desc(dt::f32, {rows, Og}, {Og, 1}), block.data());
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * Cout, block.data() + r * Og, static_cast<size_t>(Og) * sizeof(float));
}

}  // namespace

bool conv2d_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p, Tensor& out,
                const ConvEpilogue& epilogue) {
  check_f32(x, "conv2d", "x");
  check_f32(w, "conv2d", "w");
  check_f32(out, "conv2d", "out");
  check_contig(x, "conv2d", "x");
  check_contig(w, "conv2d", "w");
  check_contig(out, "conv2d", "out");
  if (bias) check_f32(*bias, "conv2d", "bias");
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), Cin = x.size(3);
  const int64_t Cout = w.size(0), KH = w.size(2), KW = w.size(3), G = p.groups;
  const int64_t Cg = Cin / G, Og = Cout / G, CK = Cg * KH * KW;
  const int64_t Hout = out.size(1), Wout = out.size(2), P = Hout * Wout;
  IA_CHECK(out.size(0) == B && out.size(3) == Cout &&
               Hout == window_output_size(H, KH, p.stride_h, p.padding_h, p.dilation_h) &&
               Wout == window_output_size(W, KW, p.stride_w, p.padding_w, p.dilation_w),
           "cpu conv2d: out {} does not fit x {} and w {}", out.describe(), x.describe(), w.describe());
  if (B == 0 || P == 0 || Cout == 0) return false;
  static const bool direct = [] {
    const char* v = std::getenv("IA_CPU_DNNL_CONV");
    return !(v && std::string_view(v) == "0");
  }();
  if (direct && dnnl_conv2d(x, w, bias, p, out, epilogue)) return true;
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  const float* bp = bias ? bias->data<float>() : nullptr;
  float* op = out.data<float>();
  std::vector<float> block;
  const bool pointwise =
      KH == 1 && KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.padding_h == 0 && p.padding_w == 0 && G == 1;
  if (pointwise) {  // the image's pixels are the GEMM's rows already
    gemm_into(xp, B * P, Cin, wp, bp, Cout, Cout, op, block);
    return false;
  }
  const int64_t chunk = std::max<int64_t>(1, std::min(P, kColumnBudget / std::max<int64_t>(CK, 1)));
  std::vector<float> col(static_cast<size_t>(chunk * CK));
  for (int64_t b = 0; b < B; ++b) {
    const float* xb = xp + b * H * W * Cin;
    for (int64_t p0 = 0; p0 < P; p0 += chunk) {
      const int64_t rows = std::min(chunk, P - p0);
      for (int64_t g = 0; g < G; ++g) {
        // col[r, (i KH + ky) KW + kx] = x[y sh + ky dh - ph, x sw + kx dw - pw, g Cg + i] for output
        // pixel p0 + r = (y, x), zero outside the image: the weights' own [Cg, KH, KW] order.
        parallel_for(rows, row_grain(CK), [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            float* c = col.data() + r * CK;
            const int64_t oy = (p0 + r) / Wout, ox = (p0 + r) % Wout;
            for (int64_t ky = 0; ky < KH; ++ky) {
              const int64_t iy = oy * p.stride_h + ky * p.dilation_h - p.padding_h;
              for (int64_t kx = 0; kx < KW; ++kx) {
                const int64_t ix = ox * p.stride_w + kx * p.dilation_w - p.padding_w;
                const int64_t k = ky * KW + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
                  for (int64_t i = 0; i < Cg; ++i) c[i * KH * KW + k] = 0.0f;
                  continue;
                }
                const float* xr = xb + (iy * W + ix) * Cin + g * Cg;
                for (int64_t i = 0; i < Cg; ++i) c[i * KH * KW + k] = xr[i];
              }
            }
          }
        });
        gemm_into(col.data(), rows, CK, wp + g * Og * CK, bp ? bp + g * Og : nullptr, Og, Cout,
                  op + (b * P + p0) * Cout + g * Og, block);
      }
    }
  }
  return false;
}

void max_pool2d_cpu(const Tensor& x, const MaxPool2dParams& p, Tensor& out) {
  check_f32(x, "max_pool2d", "x");
  check_contig(x, "max_pool2d", "x");
  check_contig(out, "max_pool2d", "out");
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const int64_t Hout = out.size(1), Wout = out.size(2);
  IA_CHECK(out.size(0) == B && out.size(3) == C &&
               Hout == window_output_size(H, p.kernel_h, p.stride_h, p.padding_h, 1) &&
               Wout == window_output_size(W, p.kernel_w, p.stride_w, p.padding_w, 1),
           "cpu max_pool2d: out {} does not fit x {}", out.describe(), x.describe());
  if (out.numel() == 0) return;
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  const Kernels& k = kernels();  // max_into propagates NaN as torch does: a NaN in the window wins
  parallel_for(B * Hout, std::max<int64_t>(1, row_grain(Wout * C * p.kernel_h * p.kernel_w)),
               [&](int64_t r0, int64_t r1) {
                 for (int64_t r = r0; r < r1; ++r) {
                   const int64_t b = r / Hout, oy = r % Hout;
                   const int64_t y0 = std::max<int64_t>(0, oy * p.stride_h - p.padding_h);
                   const int64_t y1 = std::min(H, oy * p.stride_h - p.padding_h + p.kernel_h);
                   for (int64_t ox = 0; ox < Wout; ++ox) {
                     const int64_t x0 = std::max<int64_t>(0, ox * p.stride_w - p.padding_w);
                     const int64_t x1 = std::min(W, ox * p.stride_w - p.padding_w + p.kernel_w);
                     float* o = op + ((b * Hout + oy) * Wout + ox) * C;
                     std::fill(o, o + C, -std::numeric_limits<float>::infinity());
                     for (int64_t iy = y0; iy < y1; ++iy)
                       for (int64_t ix = x0; ix < x1; ++ix) k.max_into(xp + ((b * H + iy) * W + ix) * C, o, C);
                   }
                 }
               });
}

}  // namespace ia::cpu
