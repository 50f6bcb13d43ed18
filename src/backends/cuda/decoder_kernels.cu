// Decoder ops: rotary position embedding (HF rotate_half layout) and the paged KV cache write.
#include "backends/cuda/kernel_common.cuh"
#include "backends/cuda/kernels.h"

namespace ia::cuda {
namespace {

// Row r = t * N + n of x (strided) -> out row r (contiguous, D). Work item c < half rotates the
// pair (c, c + half); c >= half copies element c + half (dims 2 * half .. D-1).
// A thread reads both elements of a pair before writing them, so out may even be x when x is
// contiguous (no __restrict__ on them).
__global__ void rotary_kernel(const float* x, int64_t x_s0, int64_t x_s1, const int64_t* __restrict__ positions,
                              const float* __restrict__ cos, const float* __restrict__ sin, int64_t P, int64_t half,
                              float* out, int64_t T, int64_t N, int64_t D, int* bad) {
  const int64_t rows = T * N, cols = D - half;
  for (int64_t r = grid_y0(); r < rows; r += grid_y_stride()) {
    const int64_t t = r / N, n = r - t * N;
    const int64_t p = positions[t];
    float* orow = out + r * D;
    if (p < 0 || p >= P) {
      if (grid_x0() == 0) *bad = 1;
      const float nan = __uint_as_float(0x7fc00000u);
      for (int64_t c = grid_x0(); c < cols; c += grid_x_stride()) {
        orow[c + half] = nan;
        if (c < half) orow[c] = nan;
      }
      continue;
    }
    const float* xr = x + t * x_s0 + n * x_s1;
    const float* cr = cos + p * half;
    const float* sr = sin + p * half;
    for (int64_t c = grid_x0(); c < cols; c += grid_x_stride()) {
      if (c < half) {
        const float a = xr[c], b = xr[c + half], cc = cr[c], ss = sr[c];
        // As torch (and the CPU): each product rounded, then the sum; no fused multiply-add.
        orow[c] = __fsub_rn(__fmul_rn(a, cc), __fmul_rn(b, ss));
        orow[c + half] = __fadd_rn(__fmul_rn(b, cc), __fmul_rn(a, ss));
      } else {
        orow[c + half] = xr[c + half];
      }
    }
  }
}

// Row r = t * Hkv + h of k and v (strided) -> cache row slots[t] (contiguous [slots, Hkv, D]).
// V = 4: D and the four strides are multiples of 4 and all four pointers 16-byte aligned.
template <int V>
__global__ void kv_cache_write_kernel(const float* __restrict__ k, int64_t k_s0, int64_t k_s1,
                                      const float* __restrict__ v, int64_t v_s0, int64_t v_s1,
                                      const int64_t* __restrict__ slots, float* __restrict__ k_cache,
                                      float* __restrict__ v_cache, int64_t num_slots, int64_t T, int64_t Hkv, int64_t D,
                                      int* bad) {
  const int64_t rows = T * Hkv, nv = D / V;
  for (int64_t r = grid_y0(); r < rows; r += grid_y_stride()) {
    const int64_t t = r / Hkv, h = r - t * Hkv;
    const int64_t slot = slots[t];
    if (slot < 0 || slot >= num_slots) {
      if (grid_x0() == 0) *bad = 1;
      continue;
    }
    const float* ks = k + t * k_s0 + h * k_s1;
    const float* vs = v + t * v_s0 + h * v_s1;
    float* kd = k_cache + (slot * Hkv + h) * D;
    float* vd = v_cache + (slot * Hkv + h) * D;
    for (int64_t c = grid_x0(); c < nv; c += grid_x_stride()) {
      if constexpr (V == 4) {
        store_f4(kd + c * 4, load_f4(ks + c * 4));
        store_f4(vd + c * 4, load_f4(vs + c * 4));
      } else {
        kd[c] = ks[c];
        vd[c] = vs[c];
      }
    }
  }
}

}  // namespace

void launch_rotary(const float* x, int64_t x_s0, int64_t x_s1, const int64_t* positions, const float* cos,
                   const float* sin, int64_t P, int64_t R, float* out, int64_t T, int64_t N, int64_t D, int* bad_flag,
                   cudaStream_t stream) {
  if (T <= 0 || N <= 0 || D <= 0) return;
  // cos/sin rows hold R / 2 values; dims 2 * (R / 2) .. D-1 are copied (as rotary_cpu).
  int64_t half = R / 2;
  if (half < 0) half = 0;
  if (2 * half > D) half = D / 2;  // R <= D by contract; never index past the row
  const Grid2d g = grid_2d(T * N, D - half);
  rotary_kernel<<<g.grid, g.block, 0, stream>>>(x, x_s0, x_s1, positions, cos, sin, P, half, out, T, N, D, bad_flag);
}

void launch_kv_cache_write(const float* k, int64_t k_s0, int64_t k_s1, const float* v, int64_t v_s0, int64_t v_s1,
                           const int64_t* slots, float* k_cache, float* v_cache, int64_t num_slots, int64_t T,
                           int64_t Hkv, int64_t D, int* bad_flag, cudaStream_t stream) {
  if (T <= 0 || Hkv <= 0 || D <= 0) return;
  const bool vec = D % 4 == 0 && k_s0 % 4 == 0 && k_s1 % 4 == 0 && v_s0 % 4 == 0 && v_s1 % 4 == 0 &&
                   aligned_to(k, 16) && aligned_to(v, 16) && aligned_to(k_cache, 16) && aligned_to(v_cache, 16);
  if (vec) {
    const Grid2d g = grid_2d(T * Hkv, D / 4);
    kv_cache_write_kernel<4><<<g.grid, g.block, 0, stream>>>(k, k_s0, k_s1, v, v_s0, v_s1, slots, k_cache, v_cache,
                                                             num_slots, T, Hkv, D, bad_flag);
  } else {
    const Grid2d g = grid_2d(T * Hkv, D);
    kv_cache_write_kernel<1><<<g.grid, g.block, 0, stream>>>(k, k_s0, k_s1, v, v_s0, v_s1, slots, k_cache, v_cache,
                                                             num_slots, T, Hkv, D, bad_flag);
  }
}

}  // namespace ia::cuda
