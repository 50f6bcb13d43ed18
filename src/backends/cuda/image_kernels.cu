// Convolutional backbones on channels-last images: the im2col gather that turns a conv2d into
// cuBLASLt GEMMs (the backend runs them against the weights in place) and max_pool2d.
#include <cfloat>

#include "backends/cuda/kernel_common.cuh"
#include "backends/cuda/kernels.h"

namespace ia::cuda {
namespace {

// col[r, (i KH + ky) KW + kx] = x[oy sh + ky dh - ph, ox sw + kx dw - pw, g Cg + i] for output
// pixel p0 + r = (oy, ox), 0 outside the image. Columns on x.
// A bf16 column (uint16_t) holds x rounded to nearest even: a bf16 model's convolution products.
__device__ inline float to_col(float v, float*) { return v; }
__device__ inline uint16_t to_col(float v, uint16_t*) { return f32_to_bf16_bits(v); }

template <typename T>
__global__ void im2col_2d_kernel(const float* __restrict__ x, Im2col2dShape s, int64_t p0, int64_t rows,
                                 T* __restrict__ col) {
  const int64_t KK = s.KH * s.KW, CK = s.Cg * KK;
  for (int64_t r = grid_y0(); r < rows; r += grid_y_stride()) {
    const int64_t oy = (p0 + r) / s.Wout, ox = (p0 + r) % s.Wout;
    for (int64_t j = grid_x0(); j < CK; j += grid_x_stride()) {
      const int64_t i = j / KK, k = j - i * KK, ky = k / s.KW, kx = k - ky * s.KW;
      const int64_t iy = oy * s.stride_h + ky * s.dilation_h - s.padding_h;
      const int64_t ix = ox * s.stride_w + kx * s.dilation_w - s.padding_w;
      col[r * CK + j] = to_col(
          (iy >= 0 && iy < s.H && ix >= 0 && ix < s.W) ? x[(iy * s.W + ix) * s.Cin + s.g * s.Cg + i] : 0.0f, col);
    }
  }
}

// Rows: (b, oy, ox) output pixels; columns: channels. Positions outside the image are left out;
// a NaN in the window wins, as in torch.
__global__ void max_pool2d_kernel(const float* __restrict__ x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t Hout,
                                  int64_t Wout, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                                  float* __restrict__ out) {
  const int64_t rows = B * Hout * Wout;
  for (int64_t r = grid_y0(); r < rows; r += grid_y_stride()) {
    const int64_t b = r / (Hout * Wout), rem = r - b * Hout * Wout, oy = rem / Wout, ox = rem - oy * Wout;
    const int64_t y0 = max(int64_t{0}, oy * sh - ph), y1 = min(H, oy * sh - ph + kh);
    const int64_t x0 = max(int64_t{0}, ox * sw - pw), x1 = min(W, ox * sw - pw + kw);
    for (int64_t c = grid_x0(); c < C; c += grid_x_stride()) {
      float m = -FLT_MAX;
      bool any = false;
      for (int64_t iy = y0; iy < y1; ++iy)
        for (int64_t ix = x0; ix < x1; ++ix) {
          const float v = x[((b * H + iy) * W + ix) * C + c];
          if (!any || v > m || v != v) m = v;
          any = true;
          if (m != m) break;
        }
      out[r * C + c] = m;
    }
  }
}

}  // namespace

void launch_im2col_2d(const float* x, const Im2col2dShape& s, int64_t p0, int64_t rows, float* col,
                      cudaStream_t stream) {
  const int64_t CK = s.Cg * s.KH * s.KW;
  if (rows <= 0 || CK <= 0) return;
  const Grid2d g2 = grid_2d(rows, CK);
  im2col_2d_kernel<float><<<g2.grid, g2.block, 0, stream>>>(x, s, p0, rows, col);
}

void launch_im2col_2d_bf16(const float* x, const Im2col2dShape& s, int64_t p0, int64_t rows, uint16_t* col,
                           cudaStream_t stream) {
  const int64_t CK = s.Cg * s.KH * s.KW;
  if (rows <= 0 || CK <= 0) return;
  const Grid2d g2 = grid_2d(rows, CK);
  im2col_2d_kernel<uint16_t><<<g2.grid, g2.block, 0, stream>>>(x, s, p0, rows, col);
}

void launch_max_pool2d(const float* x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t Hout, int64_t Wout,
                       int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, float* out,
                       cudaStream_t stream) {
  if (B <= 0 || Hout <= 0 || Wout <= 0 || C <= 0) return;
  const Grid2d g2 = grid_2d(B * Hout * Wout, C);
  max_pool2d_kernel<<<g2.grid, g2.block, 0, stream>>>(x, B, H, W, C, Hout, Wout, kh, kw, sh, sw, ph, pw, out);
}

}  // namespace ia::cuda
