// Convolutional front ends on channels-last activations: the im2col gather that turns a conv1d
// into cuBLASLt GEMMs (the backend runs them against the weights in place), and group norm
// (per-channel partial sums over row chunks, folded per group in f64, then one elementwise pass).
#include "backends/cuda/kernel_common.cuh"
#include "backends/cuda/kernels.h"

namespace ia::cuda {
namespace {

// col[r, i K + k] = x[(t0 + r) stride + k dilation - padding, g Cg + i], 0 outside [0, L).
// Columns on x: consecutive threads write consecutive columns.
__global__ void im2col_1d_kernel(const float* __restrict__ x, int64_t L, int64_t Cin, int64_t Cg, int64_t g, int64_t K,
                                 int64_t stride, int64_t padding, int64_t dilation, int64_t t0, int64_t rows,
                                 float* __restrict__ col) {
  const int64_t CK = Cg * K;
  for (int64_t r = grid_y0(); r < rows; r += grid_y_stride()) {
    const int64_t base = (t0 + r) * stride - padding;
    for (int64_t j = grid_x0(); j < CK; j += grid_x_stride()) {
      const int64_t i = j / K, k = j - i * K;
      const int64_t src = base + k * dilation;
      col[r * CK + j] = (src >= 0 && src < L) ? x[src * Cin + g * Cg + i] : 0.0f;
    }
  }
}

// Block (chunk, b): sums and sums of squares of each channel over the chunk's rows, in f64.
// part [B, chunks, 2, C].
__global__ void group_norm_partial_kernel(const float* __restrict__ x, int64_t L, int64_t C, int64_t rows_per_chunk,
                                          double* __restrict__ part) {
  const int64_t chunk = blockIdx.x, b = blockIdx.y, chunks = gridDim.x;
  const int64_t r0 = chunk * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < L ? r0 + rows_per_chunk : L;
  const float* xb = x + b * L * C;
  double* out = part + (b * chunks + chunk) * 2 * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    double s = 0, q = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const double v = xb[r * C + c];
      s += v;
      q += v * v;
    }
    out[c] = s;
    out[C + c] = q;
  }
}

// Block (g, b): the group's mean and 1/sqrt(var + eps) from the partials. stats [B, G, 2].
__global__ void group_norm_stats_kernel(const double* __restrict__ part, int64_t chunks, int64_t C, int64_t Cg,
                                        int64_t L, float eps, float* __restrict__ stats) {
  __shared__ double scratch[32];
  const int64_t g = blockIdx.x, b = blockIdx.y, G = gridDim.x;
  const int64_t n = chunks * Cg;
  double s = 0, q = 0;
  for (int64_t e = threadIdx.x; e < n; e += blockDim.x) {
    const int64_t chunk = e / Cg, c = g * Cg + (e - chunk * Cg);
    const double* p = part + (b * chunks + chunk) * 2 * C;
    s += p[c];
    q += p[C + c];
  }
  s = block_sum_x(s, scratch);
  q = block_sum_x(q, scratch);
  if (threadIdx.x == 0) {
    const double count = static_cast<double>(L) * static_cast<double>(Cg);
    const double mean = s / count;
    double var = q / count - mean * mean;
    if (var < 0) var = 0;
    stats[(b * G + g) * 2] = static_cast<float>(mean);
    stats[(b * G + g) * 2 + 1] = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
  }
}

// out[row, c] = (x - mean) * rstd * weight[c] + bias[c], rows = B L (b = row / L).
__global__ void group_norm_apply_kernel(const float* __restrict__ x, const float* __restrict__ stats,
                                        const float* __restrict__ weight, const float* __restrict__ bias,
                                        float* __restrict__ out, int64_t rows, int64_t L, int64_t C, int64_t Cg,
                                        int64_t G) {
  for (int64_t r = grid_y0(); r < rows; r += grid_y_stride()) {
    const int64_t b = r / L;
    for (int64_t c = grid_x0(); c < C; c += grid_x_stride()) {
      const int64_t g = c / Cg;
      const float mean = stats[(b * G + g) * 2], rstd = stats[(b * G + g) * 2 + 1];
      const float v = (x[r * C + c] - mean) * rstd * weight[c];
      out[r * C + c] = bias ? v + bias[c] : v;
    }
  }
}

}  // namespace

void launch_im2col_1d(const float* x, int64_t L, int64_t Cin, int64_t Cg, int64_t g, int64_t K, int64_t stride,
                      int64_t padding, int64_t dilation, int64_t t0, int64_t rows, float* col, cudaStream_t stream) {
  if (rows <= 0 || Cg * K <= 0) return;
  const Grid2d g2 = grid_2d(rows, Cg * K);
  im2col_1d_kernel<<<g2.grid, g2.block, 0, stream>>>(x, L, Cin, Cg, g, K, stride, padding, dilation, t0, rows, col);
}

void launch_group_norm(const float* x, const float* weight, const float* bias, float eps, float* out, int64_t B,
                       int64_t L, int64_t C, int64_t G, double* partials, float* stats, cudaStream_t stream) {
  if (B <= 0 || L <= 0 || C <= 0) return;
  const int64_t chunks = group_norm_chunks(L);
  const int64_t rows_per_chunk = ceil_div(L, chunks);
  const int threads = C >= 256 ? 256 : static_cast<int>(ceil_div(C, 32) * 32);
  group_norm_partial_kernel<<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(B)), threads, 0, stream>>>(
      x, L, C, rows_per_chunk, partials);
  group_norm_stats_kernel<<<dim3(static_cast<unsigned>(G), static_cast<unsigned>(B)), 256, 0, stream>>>(
      partials, chunks, C, C / G, L, eps, stats);
  const Grid2d g2 = grid_2d(B * L, C);
  group_norm_apply_kernel<<<g2.grid, g2.block, 0, stream>>>(x, stats, weight, bias, out, B * L, L, C, C / G, G);
}

}  // namespace ia::cuda
