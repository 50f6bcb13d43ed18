// Decode-shaped bf16 linears: a few rows of x against a weight far larger than the caches, where
// the time is the weight's bytes. cuBLASLt serves these at 32-80% of the copy bandwidth and needs
// two passes beside it (x rounded to bf16 first, the activation / residual / bf16 output after).
// Here each block streams kRows weight rows once with 16-byte loads that skip L1 (so x, read by
// every block, stays there), keeps the kM x kRows partial sums in registers, reduces them across
// the block and applies the whole epilogue before the single store.
#include <algorithm>

#include "backends/cuda/activation.cuh"
#include "backends/cuda/kernel_common.cuh"
#include "backends/cuda/kernels.h"

namespace ia::cuda {
namespace {

constexpr int kMaxThreads = 256;
constexpr int kMaxWarps = kMaxThreads / 32;

// 16 bytes of weights, read once: no L1 allocation, so the x rows every block reads stay cached.
__device__ __forceinline__ uint4 load_streaming(const uint16_t* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ float lo_bf16(uint32_t v) {
  return __uint_as_float(v << 16);
}
__device__ __forceinline__ float hi_bf16(uint32_t v) {
  return __uint_as_float(v & 0xffff0000u);
}

// Eight consecutive x values as the bf16 linear sees them (an f32 x is rounded to bf16 first,
// as the CPU and the GEMM path round it).
template <bool kXBf16>
__device__ __forceinline__ void load_x8(const void* x, int64_t offset, float (&v)[8]) {
  if constexpr (kXBf16) {
    const uint4 u = *reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(x) + offset);
    v[0] = lo_bf16(u.x), v[1] = hi_bf16(u.x), v[2] = lo_bf16(u.y), v[3] = hi_bf16(u.y);
    v[4] = lo_bf16(u.z), v[5] = hi_bf16(u.z), v[6] = lo_bf16(u.w), v[7] = hi_bf16(u.w);
  } else {
    const float* p = static_cast<const float*>(x) + offset;
    const float4 a = load_f4(p), b = load_f4(p + 4);
    v[0] = round_to_bf16(a.x), v[1] = round_to_bf16(a.y), v[2] = round_to_bf16(a.z), v[3] = round_to_bf16(a.w);
    v[4] = round_to_bf16(b.x), v[5] = round_to_bf16(b.y), v[6] = round_to_bf16(b.z), v[7] = round_to_bf16(b.w);
  }
}

__device__ __forceinline__ float dot8(const uint4& w, const float (&x)[8], float acc) {
  acc = fmaf(lo_bf16(w.x), x[0], acc);
  acc = fmaf(hi_bf16(w.x), x[1], acc);
  acc = fmaf(lo_bf16(w.y), x[2], acc);
  acc = fmaf(hi_bf16(w.y), x[3], acc);
  acc = fmaf(lo_bf16(w.z), x[4], acc);
  acc = fmaf(hi_bf16(w.z), x[5], acc);
  acc = fmaf(lo_bf16(w.w), x[6], acc);
  acc = fmaf(hi_bf16(w.w), x[7], acc);
  return acc;
}

// Block b computes out[0..M, b*kRows .. b*kRows + kRows) for M <= kM; its threads split K in
// chunks of 8.
template <int kM, int kRows, int kAct, bool kXBf16>
__global__ void __launch_bounds__(kMaxThreads)
    gemv_bf16_kernel(const void* x, int64_t ldx, const uint16_t* w, int64_t ldw, const float* bias,
                     const float* residual, void* out, bool out_bf16, int M, int64_t N, int64_t K) {
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kRows;
  const uint16_t* rows[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) rows[r] = w + min(n0 + r, N - 1) * ldw;  // past N: a valid row, dropped
  float acc[kM][kRows];
#pragma unroll
  for (int m = 0; m < kM; ++m)
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[m][r] = 0.0f;

  const int64_t chunks = K / 8;
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
    uint4 wv[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) wv[r] = load_streaming(rows[r] + c * 8);
#pragma unroll
    for (int m = 0; m < kM; ++m) {
      if (m >= M) break;
      float xv[8];
      load_x8<kXBf16>(x, m * ldx + c * 8, xv);
#pragma unroll
      for (int r = 0; r < kRows; ++r) acc[m][r] = dot8(wv[r], xv, acc[m][r]);
    }
  }

  __shared__ float partial[kM * kRows][kMaxWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
#pragma unroll
  for (int m = 0; m < kM; ++m)
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float s = warp_sum(acc[m][r]);
      if (lane == 0) partial[m * kRows + r][warp] = s;
    }
  __syncthreads();
  for (int i = threadIdx.x; i < kM * kRows; i += blockDim.x) {
    const int m = i / kRows, r = i % kRows;
    const int64_t n = n0 + r;
    if (m >= M || n >= N) continue;
    float s = 0.0f;
    for (int j = 0; j < warps; ++j) s += partial[i][j];
    if (bias) s += bias[n];
    float y = act_fn<kAct>(s);
    if (residual) y += residual[m * N + n];
    if (out_bf16) {
      static_cast<uint16_t*>(out)[m * N + n] = f32_to_bf16_bits(y);
    } else {
      static_cast<float*>(out)[m * N + n] = y;
    }
  }
}

// The epilogue activations a decode-shaped linear has (GPT-2's and Whisper's GELUs, T5's ReLU);
// the gated MLPs apply theirs in a separate op. Others stay on the GEMM path.
bool gemv_act_supported(bool has_act, Act act) {
  return !has_act || act == Act::GeluErf || act == Act::GeluTanh || act == Act::Relu;
}

template <int kM, int kRows>
void launch_rows(const void* x, bool x_bf16, int64_t ldx, const uint16_t* w, int64_t ldw, const float* bias,
                 bool has_act, Act act, const float* residual, void* out, bool out_bf16, int M, int64_t N, int64_t K,
                 cudaStream_t stream) {
  const int64_t chunks = K / 8;
  // Enough threads for every chunk once, in whole warps, at most kMaxThreads.
  const int threads = static_cast<int>(std::clamp<int64_t>(ceil_div(chunks, 32) * 32, 32, kMaxThreads));
  const unsigned blocks = static_cast<unsigned>(ceil_div(N, kRows));
  auto go = [&](auto a) {
    constexpr int kAct = decltype(a)::value;
    if (x_bf16) {
      gemv_bf16_kernel<kM, kRows, kAct, true>
          <<<blocks, threads, 0, stream>>>(x, ldx, w, ldw, bias, residual, out, out_bf16, M, N, K);
    } else {
      gemv_bf16_kernel<kM, kRows, kAct, false>
          <<<blocks, threads, 0, stream>>>(x, ldx, w, ldw, bias, residual, out, out_bf16, M, N, K);
    }
  };
  if (!has_act) return go(ActTag<kNoAct>{});
  if (act == Act::GeluErf) return go(ActTag<static_cast<int>(Act::GeluErf)>{});
  if (act == Act::GeluTanh) return go(ActTag<static_cast<int>(Act::GeluTanh)>{});
  go(ActTag<static_cast<int>(Act::Relu)>{});
}

template <int kM>
void launch_m(const void* x, bool x_bf16, int64_t ldx, const uint16_t* w, int64_t ldw, const float* bias, bool has_act,
              Act act, const float* residual, void* out, bool out_bf16, int M, int64_t N, int64_t K,
              cudaStream_t stream) {
  // More rows per block where there are blocks to spare (fewer block launches and reductions,
  // more loads in flight per thread); one row where N is small, so every SM still gets work.
  if (N >= 4 * 1024) {
    launch_rows<kM, 4>(x, x_bf16, ldx, w, ldw, bias, has_act, act, residual, out, out_bf16, M, N, K, stream);
  } else if (N >= 2 * 512) {
    launch_rows<kM, 2>(x, x_bf16, ldx, w, ldw, bias, has_act, act, residual, out, out_bf16, M, N, K, stream);
  } else {
    launch_rows<kM, 1>(x, x_bf16, ldx, w, ldw, bias, has_act, act, residual, out, out_bf16, M, N, K, stream);
  }
}

}  // namespace

bool gemv_bf16_applies(const void* x, bool x_bf16, int64_t ldx, const void* w, int64_t ldw, bool has_act, Act act,
                       int64_t M, int64_t K, int64_t max_rows) {
  if (!gemv_act_supported(has_act, act) || M > max_rows) return false;
  if (M < 1 || M > kGemvMaxRows || K < 8 || K % 8 != 0 || ldw % 8 != 0) return false;
  if (!aligned_to(w, 16) || !aligned_to(x, 16)) return false;
  return x_bf16 ? ldx % 8 == 0 : ldx % 4 == 0;
}

void launch_gemv_bf16(const void* x, bool x_bf16, int64_t ldx, const uint16_t* w, int64_t ldw, const float* bias,
                      bool has_act, Act act, const float* residual, void* out, bool out_bf16, int64_t M, int64_t N,
                      int64_t K, cudaStream_t stream) {
  // Row counts round up to the next instantiated size; the kernel skips the rows past M.
  const int m = static_cast<int>(M);
  if (M <= 1) return launch_m<1>(x, x_bf16, ldx, w, ldw, bias, has_act, act, residual, out, out_bf16, m, N, K, stream);
  if (M <= 2) return launch_m<2>(x, x_bf16, ldx, w, ldw, bias, has_act, act, residual, out, out_bf16, m, N, K, stream);
  if (M <= 4) return launch_m<4>(x, x_bf16, ldx, w, ldw, bias, has_act, act, residual, out, out_bf16, m, N, K, stream);
  launch_m<8>(x, x_bf16, ldx, w, ldw, bias, has_act, act, residual, out, out_bf16, m, N, K, stream);
}

}  // namespace ia::cuda
