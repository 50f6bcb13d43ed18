#pragma once
// Helpers shared by the CUDA kernel files: scalar conversions that match core/dtype.h bit for
// bit, warp and block reductions, grid-stride index helpers and grid-size choices. Header-only
// (inline host helpers and __device__ functions); launchers live in the .cu files.
#include <cstdint>

#include <cuda_runtime.h>

namespace ia::cuda {

// ------------------------------------------------------------------ grid sizes (host)

// The kernels loop (grid-stride), so a grid may be smaller than the work; these caps keep every
// dimension far inside the hardware limits (x < 2^31, y and z <= 65535).
constexpr int64_t kMaxGridX = 1 << 20;
constexpr int64_t kMaxGridY = 65535;

inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

inline int64_t clamp_grid(int64_t blocks, int64_t cap) {
  return blocks < 1 ? 1 : (blocks > cap ? cap : blocks);
}

// Blocks of `threads` for `work` grid-stride items in one dimension.
inline unsigned grid_1d(int64_t work, int threads) {
  return static_cast<unsigned>(clamp_grid(ceil_div(work, threads), kMaxGridX));
}

inline bool aligned_to(const void* p, uintptr_t bytes) {
  return (reinterpret_cast<uintptr_t>(p) & (bytes - 1)) == 0;
}

// A 2-D launch over [rows, cols] work items: columns on x (consecutive threads take consecutive
// columns, so accesses along a row coalesce), rows on y. A block has 256 threads: as many
// columns as the row needs rounded up to a warp (at most 256) and the rest of the block on more
// rows, so short rows still fill the block.
struct Grid2d {
  dim3 grid;
  dim3 block;
};

inline Grid2d grid_2d(int64_t rows, int64_t cols) {
  constexpr int64_t kThreads = 256;
  int64_t tx = ceil_div(cols, 32) * 32;
  if (tx > kThreads) tx = kThreads;
  const int64_t ty = kThreads / tx;
  Grid2d g;
  g.block = dim3(static_cast<unsigned>(tx), static_cast<unsigned>(ty), 1);
  g.grid = dim3(static_cast<unsigned>(clamp_grid(ceil_div(cols, tx), kMaxGridX)),
                static_cast<unsigned>(clamp_grid(ceil_div(rows, ty), kMaxGridY)), 1);
  return g;
}

// ------------------------------------------------------------------ grid-stride indices (device)

// x: columns (or the flat index of a 1-D launch); y: rows. 64-bit so no product overflows.
__device__ __forceinline__ int64_t grid_x0() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_x_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}
__device__ __forceinline__ int64_t grid_y0() {
  return static_cast<int64_t>(blockIdx.y) * blockDim.y + threadIdx.y;
}
__device__ __forceinline__ int64_t grid_y_stride() {
  return static_cast<int64_t>(gridDim.y) * blockDim.y;
}

// f4(i) for each i = 0, 4, 8, ... below n rounded down to 4 (vec: the caller's pointers are
// 16-byte aligned, so element i starts a float4), then f1(i) for the tail; without vec, f1 for
// every element. A 1-D grid-stride loop.
template <class F4, class F1>
__device__ __forceinline__ void for_each_vec4(int64_t n, bool vec, F4&& f4, F1&& f1) {
  const int64_t stride = grid_x_stride();
  int64_t first = 0;
  if (vec) {
    const int64_t n4 = n >> 2;
    for (int64_t v = grid_x0(); v < n4; v += stride) f4(v << 2);
    first = n4 << 2;
  }
  for (int64_t i = first + grid_x0(); i < n; i += stride) f1(i);
}

// ------------------------------------------------------------------ scalar conversions

__device__ __forceinline__ float bf16_bits_to_f32(uint16_t v) {
  return __uint_as_float(static_cast<uint32_t>(v) << 16);
}

// ia::f32_to_bf16: round to nearest even; a NaN stays a (quiet) NaN with its sign and top payload.
__device__ __forceinline__ uint16_t f32_to_bf16_bits(float f) {
  const uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

// f32 -> bf16 -> f32: the value a bf16 consumer sees.
__device__ __forceinline__ float round_to_bf16(float f) {
  return bf16_bits_to_f32(f32_to_bf16_bits(f));
}

// ia::f16_to_f32, exact (NaN payloads kept, which the hardware conversion need not do).
__device__ __forceinline__ float f16_bits_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in f32.
    return __uint_as_float(__float_as_uint(static_cast<float>(mant) * 5.9604644775390625e-08f) | sign);
  }
  if (exp == 31) return __uint_as_float(sign | 0x7f800000u | (mant << 13));
  return __uint_as_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

// ia::f32_to_f16: round to nearest even, overflow to inf, NaN -> sign | 0x7e00.
__device__ __forceinline__ uint16_t f32_to_f16_bits(float f) {
  const uint32_t x = __float_as_uint(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (absx < 0x38800000u) {
    // Subnormal or zero: scaled so the f16 unit 2^-24 becomes 1 (exact), rounded to even.
    const float scaled = __uint_as_float(absx) * 16777216.0f;
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(rintf(scaled)));
  }
  uint32_t h = (((absx >> 23) - 112u) << 10) | ((absx >> 13) & 0x3ffu);
  const uint32_t rest = absx & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h += 1;  // a carry into the exponent is right
  return static_cast<uint16_t>(sign | h);
}

// ------------------------------------------------------------------ vector loads and stores

__device__ __forceinline__ float4 load_f4(const float* p) {
  return *reinterpret_cast<const float4*>(p);
}
__device__ __forceinline__ void store_f4(float* p, float4 v) {
  *reinterpret_cast<float4*>(p) = v;
}

// Four consecutive bf16 values from four floats, one 8-byte store (p 8-byte aligned).
__device__ __forceinline__ void store_bf16x4(uint16_t* p, float a, float b, float c, float d) {
  uint2 u;
  u.x = static_cast<uint32_t>(f32_to_bf16_bits(a)) | (static_cast<uint32_t>(f32_to_bf16_bits(b)) << 16);
  u.y = static_cast<uint32_t>(f32_to_bf16_bits(c)) | (static_cast<uint32_t>(f32_to_bf16_bits(d)) << 16);
  *reinterpret_cast<uint2*>(p) = u;
}

// ------------------------------------------------------------------ reductions

template <class T>
struct SumOp {
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Butterfly over the full warp: every lane ends with the same value, bit for bit (each step
// combines the same two partials, and the operators are commutative). T: float or double.
template <class T, class Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
  return warp_reduce(v, SumOp<float>{});
}
__device__ __forceinline__ double warp_sum(double v) {
  return warp_reduce(v, SumOp<double>{});
}
__device__ __forceinline__ float warp_max(float v) {
  return warp_reduce(v, MaxOp{});
}

// Reduces over the threads of the block's x dimension and returns the result to all of them,
// bit-identical in every thread. blockDim.x must be a multiple of 32; when it is above 32,
// blockDim.y must be 1 and every thread of the block must call (it synchronises). `scratch` is
// __shared__ T[32], reusable by the next call without a barrier in between (the leading
// __syncthreads orders it).
template <class T, class Op>
__device__ __forceinline__ T block_reduce_x(T v, T* scratch, Op op, T identity) {
  v = warp_reduce(v, op);
  if (blockDim.x == 32) return v;
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  // Every warp folds the partials itself, in the same order: no third barrier.
  v = lane < nwarps ? scratch[lane] : identity;
  return warp_reduce(v, op);
}

__device__ __forceinline__ float block_sum_x(float v, float* scratch) {
  return block_reduce_x(v, scratch, SumOp<float>{}, 0.0f);
}
__device__ __forceinline__ double block_sum_x(double v, double* scratch) {
  return block_reduce_x(v, scratch, SumOp<double>{}, 0.0);
}
__device__ __forceinline__ float block_max_x(float v, float* scratch) {
  return block_reduce_x(v, scratch, MaxOp{}, __uint_as_float(0xff800000u) /* -inf */);
}

}  // namespace ia::cuda
