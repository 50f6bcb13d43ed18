// Elementwise f32 kernels: activations, broadcast add, the linear epilogue, bf16 rounding of a
// linear's input, gated activations (SwiGLU, GEGLU, ...). Memory-bound: 16-byte accesses where the pointers allow,
// grid-stride loops. The math follows the CPU's generic kernels (backends/cpu/kernels_generic.cpp) with the accurate
// (non-intrinsic) libdevice functions.
#include <type_traits>

#include "backends/cuda/activation.cuh"
#include "backends/cuda/kernel_common.cuh"
#include "backends/cuda/kernels.h"

namespace ia::cuda {
namespace {

constexpr int kThreads = 256;

// ------------------------------------------------------------------ activation

// x and out may be the same buffer: each element is read before it is written, by one thread.
template <int kAct>
__global__ void activation_kernel(const float* x, float* out, int64_t n, bool vec) {
  for_each_vec4(
      n, vec,
      [&](int64_t i) {
        float4 v = load_f4(x + i);
        v.x = act_fn<kAct>(v.x), v.y = act_fn<kAct>(v.y), v.z = act_fn<kAct>(v.z), v.w = act_fn<kAct>(v.w);
        store_f4(out + i, v);
      },
      [&](int64_t i) { out[i] = act_fn<kAct>(x[i]); });
}

// ------------------------------------------------------------------ add

// b's index for a's element i: i % b_n, in 32 bits where the sizes allow (a 64-bit remainder is
// a long software sequence).
__device__ __forceinline__ int64_t broadcast_index(int64_t i, int64_t b_n, bool full, bool small) {
  if (full) return i;
  if (small) return static_cast<uint32_t>(i) % static_cast<uint32_t>(b_n);
  return i % b_n;
}

// out may be a.
__global__ void add_kernel(const float* a, const float* b, int64_t b_n, float* out, int64_t n, bool vec) {
  const bool full = b_n == n, small = n <= 0xffffffffll;
  for_each_vec4(
      n, vec,
      [&](int64_t i) {
        // vec: b_n % 4 == 0, so b's four elements are consecutive too.
        const float4 x = load_f4(a + i), y = load_f4(b + broadcast_index(i, b_n, full, small));
        store_f4(out + i, make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w));
      },
      [&](int64_t i) { out[i] = a[i] + b[broadcast_index(i, b_n, full, small)]; });
}

// ------------------------------------------------------------------ linear epilogue

// y = act(acc) + residual, stored as f32 (out may be acc) or bf16.
template <int kAct>
__global__ void linear_epilogue_kernel(const float* acc, const float* residual, void* out, bool out_bf16, int64_t n,
                                       bool vec) {
  auto value = [&](float a, int64_t i) {
    float y = act_fn<kAct>(a);
    if (residual) y = y + residual[i];
    return y;
  };
  for_each_vec4(
      n, vec,
      [&](int64_t i) {
        float4 v = load_f4(acc + i);
        v.x = act_fn<kAct>(v.x), v.y = act_fn<kAct>(v.y), v.z = act_fn<kAct>(v.z), v.w = act_fn<kAct>(v.w);
        if (residual) {
          const float4 r = load_f4(residual + i);
          v.x = v.x + r.x, v.y = v.y + r.y, v.z = v.z + r.z, v.w = v.w + r.w;
        }
        if (out_bf16) {
          store_bf16x4(static_cast<uint16_t*>(out) + i, v.x, v.y, v.z, v.w);
        } else {
          store_f4(static_cast<float*>(out) + i, v);
        }
      },
      [&](int64_t i) {
        const float y = value(acc[i], i);
        if (out_bf16) {
          static_cast<uint16_t*>(out)[i] = f32_to_bf16_bits(y);
        } else {
          static_cast<float*>(out)[i] = y;
        }
      });
}

// ------------------------------------------------------------------ rows to bf16

// out[r, c] = bf16(x[r * x_row_stride + c]); V = 4: cols and the row stride are multiples of 4
// and x (16 bytes) and out (8 bytes) aligned.
template <int V>
__global__ void round_rows_kernel(const float* __restrict__ x, int64_t x_row_stride, uint16_t* __restrict__ out,
                                  int64_t rows, int64_t cols) {
  const int64_t nv = cols / V;
  for (int64_t r = grid_y0(); r < rows; r += grid_y_stride()) {
    const float* xr = x + r * x_row_stride;
    uint16_t* orow = out + r * cols;
    for (int64_t c = grid_x0(); c < nv; c += grid_x_stride()) {
      if constexpr (V == 4) {
        const float4 v = load_f4(xr + c * 4);
        store_bf16x4(orow + c * 4, v.x, v.y, v.z, v.w);
      } else {
        orow[c] = f32_to_bf16_bits(xr[c]);
      }
    }
  }
}

// ------------------------------------------------------------------ gated activations

// x [rows, 2I] = [gate | up] -> out [rows, I] = act(gate) * up (SiLU: gate / (1 + exp(-gate)) * up,
// as the CPU, so the bf16 output is the f32 output rounded). V = 4: I % 4 == 0, x 16-byte and
// out 16-byte (f32) or 8-byte (bf16) aligned.
template <int kAct, int V>
__global__ void gated_kernel(const float* __restrict__ x, void* __restrict__ out, bool out_bf16, int64_t rows,
                             int64_t I) {
  const int64_t nv = I / V;
  for (int64_t r = grid_y0(); r < rows; r += grid_y_stride()) {
    const float* gate = x + r * 2 * I;
    const float* up = gate + I;
    for (int64_t c = grid_x0(); c < nv; c += grid_x_stride()) {
      if constexpr (V == 4) {
        const float4 g = load_f4(gate + c * 4), u = load_f4(up + c * 4);
        const float4 y = make_float4(act_fn<kAct>(g.x) * u.x, act_fn<kAct>(g.y) * u.y, act_fn<kAct>(g.z) * u.z,
                                     act_fn<kAct>(g.w) * u.w);
        if (out_bf16) {
          store_bf16x4(static_cast<uint16_t*>(out) + r * I + c * 4, y.x, y.y, y.z, y.w);
        } else {
          store_f4(static_cast<float*>(out) + r * I + c * 4, y);
        }
      } else {
        const float y = act_fn<kAct>(gate[c]) * up[c];
        if (out_bf16) {
          static_cast<uint16_t*>(out)[r * I + c] = f32_to_bf16_bits(y);
        } else {
          static_cast<float*>(out)[r * I + c] = y;
        }
      }
    }
  }
}

// Blocks for a 1-D kernel over n elements, in float4 steps when vec.
unsigned blocks_for(int64_t n, bool vec) {
  return grid_1d(vec ? ceil_div(n, 4) : n, kThreads);
}

}  // namespace

void launch_activation(Act act, const float* x, float* out, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const bool vec = aligned_to(x, 16) && aligned_to(out, 16);
  const unsigned blocks = blocks_for(n, vec);
  with_act(true, act,
           [&](auto a) { activation_kernel<decltype(a)::value><<<blocks, kThreads, 0, stream>>>(x, out, n, vec); });
}

void launch_add(const float* a, const float* b, int64_t b_n, float* out, int64_t n, cudaStream_t stream) {
  if (n <= 0 || b_n <= 0) return;
  const bool vec = aligned_to(a, 16) && aligned_to(b, 16) && aligned_to(out, 16) && b_n % 4 == 0;
  add_kernel<<<blocks_for(n, vec), kThreads, 0, stream>>>(a, b, b_n, out, n, vec);
}

void launch_linear_epilogue(const float* acc, bool has_act, Act act, const float* residual, void* out, bool out_bf16,
                            int64_t rows, int64_t cols, cudaStream_t stream) {
  const int64_t n = rows * cols;
  if (n <= 0) return;
  const bool vec = aligned_to(acc, 16) && (!residual || aligned_to(residual, 16)) && aligned_to(out, out_bf16 ? 8 : 16);
  const unsigned blocks = blocks_for(n, vec);
  with_act(has_act, act, [&](auto a) {
    linear_epilogue_kernel<decltype(a)::value><<<blocks, kThreads, 0, stream>>>(acc, residual, out, out_bf16, n, vec);
  });
}

void launch_round_rows_to_bf16(const float* x, int64_t x_row_stride, uint16_t* out, int64_t rows, int64_t cols,
                               cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  if (cols % 4 == 0 && x_row_stride % 4 == 0 && aligned_to(x, 16) && aligned_to(out, 8)) {
    const Grid2d g = grid_2d(rows, cols / 4);
    round_rows_kernel<4><<<g.grid, g.block, 0, stream>>>(x, x_row_stride, out, rows, cols);
  } else {
    const Grid2d g = grid_2d(rows, cols);
    round_rows_kernel<1><<<g.grid, g.block, 0, stream>>>(x, x_row_stride, out, rows, cols);
  }
}

void launch_gated_activation(Act act, const float* x, void* out, bool out_bf16, int64_t rows, int64_t I,
                             cudaStream_t stream) {
  if (rows <= 0 || I <= 0) return;
  const bool vec = I % 4 == 0 && aligned_to(x, 16) && aligned_to(out, out_bf16 ? 8 : 16);
  const Grid2d g = grid_2d(rows, vec ? I / 4 : I);
  with_act(true, act, [&](auto a) {
    constexpr int kAct = decltype(a)::value;
    if (vec) {
      gated_kernel<kAct, 4><<<g.grid, g.block, 0, stream>>>(x, out, out_bf16, rows, I);
    } else {
      gated_kernel<kAct, 1><<<g.grid, g.block, 0, stream>>>(x, out, out_bf16, rows, I);
    }
  });
}

}  // namespace ia::cuda
