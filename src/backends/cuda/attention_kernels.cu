// The attention launchers of kernels.h, with the CPU backend's semantics (attention_ops.cpp).
//
// Rows of several queries per sequence (dense attention, packed sequences, paged prefill) run a
// flash-attention kernel: a block per (64 query rows, q head), K and V tiles of 64 keys staged
// through shared memory, online softmax in f32. With bf16 products and a head dim of at most 128
// that is, unless IA_CUDA_ATTENTION=fma (see mma_attention_enabled), the tensor-core kernel
// of attention_mma_kernels.cu (bf16 mma, f32 accumulation). Otherwise it is the f32 FMA kernel
// here: each thread holds a 4 x 8 block of scores and 4 rows of the output (32 rows and 2 for
// D > 128). Paged decode rows run a kernel in which up to 8 q heads of one kv head share every
// K/V read, the keys split over several blocks (split-K) when the rows alone cannot fill the
// GPU; each split normalises its own probabilities and a combine kernel merges them.
// Head dims are padded with zeros in shared memory to 32, 64, 80, 96, 128 or 256 (one template
// instance each); a plain per-row kernel takes D > 256.
//
// bf16_products rounds q, k, v and the probabilities to bf16. The FMA kernels round the
// normalised probabilities, as the CPU's GEMM path does, in two passes over the keys (row max
// and sum, then the products); the tensor-core kernel rounds the unnormalised ones in one pass
// and divides by the f32 row sum at the end, as PyTorch's flash SDPA does.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "backends/cuda/attention_common.cuh"
#include "backends/cuda/kernels.h"

namespace ia::cuda {
namespace {

using namespace attention;  // what the attention kernels share (attention_common.cuh)

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;

// Global loads per thread in flight while staging a tile (more cost registers the kernels lack).
constexpr int kStageLoads = 4;

// Flash kernel: keys per tile (the query rows per block are FlashCfg::kBM).
constexpr int kBN = 64;

// Decode kernel.
constexpr int kGB = 8;      // q heads per block (all of one kv head)
constexpr int kKC = 64;     // keys per staged chunk
constexpr int kPart = 512;  // most keys of one split: their scores stay in shared memory
// In a batch that also has longer sequences (prefill chunks), paged sequences with at most this
// many new rows go to the decode kernel, the others to the flash kernel.
constexpr int64_t kDecodeMaxRows = 4;

// f32 -> bf16 -> f32, round to nearest even, NaN stays NaN: exactly ia::f32_to_bf16 (core/dtype.h).
__device__ __forceinline__ float round_bf16(float x) {
  const uint32_t b = __float_as_uint(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) return __uint_as_float((b & 0xffff0000u) | 0x00400000u);
  return __uint_as_float((b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u);
}

__device__ __forceinline__ float4 round_bf16(float4 v) {
  return make_float4(round_bf16(v.x), round_bf16(v.y), round_bf16(v.z), round_bf16(v.w));
}

__device__ __forceinline__ float component(const float4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

__device__ __forceinline__ void fma4(float p, const float4& v, float4& acc) {
  acc.x = fmaf(p, v.x, acc.x);
  acc.y = fmaf(p, v.y, acc.y);
  acc.z = fmaf(p, v.z, acc.z);
  acc.w = fmaf(p, v.w, acc.w);
}

__device__ __forceinline__ float dot4(const float4& a, const float4& b, float acc) {
  acc = fmaf(a.x, b.x, acc);
  acc = fmaf(a.y, b.y, acc);
  acc = fmaf(a.z, b.z, acc);
  return fmaf(a.w, b.w, acc);
}

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(kFullMask, x, o));
  return x;
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(kFullMask, x, o);
  return x;
}

// Over the 8 lanes that hold one row of the flash kernel's scores (the same result in each).
__device__ __forceinline__ float row8_max(float x) {
#pragma unroll
  for (int o = 1; o < 8; o <<= 1) x = fmaxf(x, __shfl_xor_sync(kFullMask, x, o));
  return x;
}

__device__ __forceinline__ float row8_sum(float x) {
#pragma unroll
  for (int o = 1; o < 8; o <<= 1) x += __shfl_xor_sync(kFullMask, x, o);
  return x;
}

// Stages ROWS rows of DC floats into shared memory (row stride LD): row r is src + row_of(r) *
// stride, or zeros where row_of(r) < 0; columns D .. DC-1 are zeros, so they add nothing to the
// products. NB loads are issued before their stores, to keep several in flight.
template <int ROWS, int DC, int LD, int NB, class RowOf>
__device__ __forceinline__ void stage_rows(float* dst, const float* src, int64_t stride, const RowOf& row_of, int64_t D,
                                           bool vec, bool round) {
  const int tid = static_cast<int>(threadIdx.x);
  if (vec) {
    constexpr int kC = DC / 4, kIt = ROWS * kC / kThreads;
    static_assert(ROWS * kC % kThreads == 0, "whole rounds of the block");
#pragma unroll 1
    for (int i0 = 0; i0 < kIt; i0 += NB) {
      float4 buf[NB];
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        buf[b] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (i0 + b < kIt) {
          const int e = tid + (i0 + b) * kThreads, r = e / kC, c = e % kC * 4;
          const int64_t row = row_of(r);
          if (row >= 0 && c < D) buf[b] = __ldg(reinterpret_cast<const float4*>(src + row * stride + c));
        }
      }
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        if (i0 + b < kIt) {
          const int e = tid + (i0 + b) * kThreads;
          *reinterpret_cast<float4*>(dst + e / kC * LD + e % kC * 4) = round ? round_bf16(buf[b]) : buf[b];
        }
      }
    }
  } else {
    constexpr int kIt = ROWS * DC / kThreads;
    static_assert(ROWS * DC % kThreads == 0, "whole rounds of the block");
    constexpr int kNb = NB;
#pragma unroll 1
    for (int i0 = 0; i0 < kIt; i0 += kNb) {
      float buf[kNb];
#pragma unroll
      for (int b = 0; b < kNb; ++b) {
        buf[b] = 0.0f;
        if (i0 + b < kIt) {
          const int e = tid + (i0 + b) * kThreads, r = e / DC, c = e % DC;
          const int64_t row = row_of(r);
          if (row >= 0 && c < D) buf[b] = __ldg(src + row * stride + c);
        }
      }
#pragma unroll
      for (int b = 0; b < kNb; ++b) {
        if (i0 + b < kIt) {
          const int e = tid + (i0 + b) * kThreads;
          dst[e / DC * LD + e % DC] = round ? round_bf16(buf[b]) : buf[b];
        }
      }
    }
  }
}

template <int DC>
struct FlashCfg {
  static constexpr int kRI = DC > 128 ? 2 : 4;  // query rows per thread (registers: kRI * DC / 8 accumulators)
  static constexpr int kBM = 16 * kRI;          // query rows per block
  // Row pads put the rows that one instruction reads in different banks.
  static constexpr int kLdq = DC + 4, kLdk = DC + 4, kLdp = kBN + 8;
  static constexpr int kJC = (DC / 4 + 7) / 8;  // float4 output columns per thread
  // Blocks per SM the registers are budgeted for (shared memory allows about as many).
  static constexpr int kMinBlocks = DC <= 96 ? 3 : DC <= 128 ? 2 : 1;
  static constexpr int kFloats = kBM * kLdq + kBN * kLdk + kBM * kLdp;
  static constexpr size_t kSmemBytes = kFloats * sizeof(float) + kBN * sizeof(int64_t);
};

// One block per (tile of up to kBM query rows of one range, q head), grid-strided. Thread (ty, tx)
// = (tid / 8, tid % 8) holds scores of rows ty + 16 i (i < kRI) and keys tx + 8 j (j < 8) of a tile,
// and output columns 4 (tx + 8 jj) .. + 3 of its rows. Shared memory: the Q tile, one K-or-V tile
// (K for the scores, then V for the products), the probabilities and the tile's key rows.
template <int DC>
__global__ void __launch_bounds__(kThreads, FlashCfg<DC>::kMinBlocks) flash_attention_kernel(const AttnArgs a) {
  using C = FlashCfg<DC>;
  constexpr int kRI = C::kRI, kBM = C::kBM;
  extern __shared__ float4 smem4[];
  float* const qs = reinterpret_cast<float*>(smem4);
  float* const kvs = qs + kBM * C::kLdq;
  float* const ps = kvs + kBN * C::kLdk;
  int64_t* const kidx = reinterpret_cast<int64_t*>(ps + kBM * C::kLdp);
  // The work item's range, read from here in the key loop rather than held in registers.
  __shared__ Range range;
  const int tid = static_cast<int>(threadIdx.x), ty = tid >> 3, tx = tid & 7;
  const int64_t items = a.nslots * a.Hq;
  for (int64_t w = blockIdx.x; w < items; w += gridDim.x) {
    // Heads of one tile are neighbours (GQA groups share K/V in L2); the last tiles, which see
    // the most keys under a causal mask, go first.
    const int64_t slot = a.nslots - 1 - w / a.Hq, h = w % a.Hq;
    int64_t i0 = 0;
    const Range g = tile_range(a, slot, h, kBM, i0);
    if (g.fill < 0 || i0 >= g.nrows) continue;
    const int nr = static_cast<int>(imin(kBM, g.nrows - i0));
    float* const out = a.out + ((g.row0 + i0) * a.Hq + h) * a.D;  // tile row r at + r * Hq * D
    if (g.fill > 0) {
      const float val = g.fill == 1 ? 0.0f : quiet_nan();
      for (int64_t e = tid; e < nr * a.D; e += kThreads) out[e / a.D * a.Hq * a.D + e % a.D] = val;
      continue;
    }

    // Keys any row of the tile sees (the bounds grow with the position).
    const int64_t pos0 = i0 + g.off;  // position of tile row 0
    int64_t kmin, kmax, unused;
    key_bounds(g, pos0, kmin, unused);
    key_bounds(g, pos0 + nr - 1, unused, kmax);
    __syncthreads();  // the previous work item is done with shared memory
    if (tid == 0) range = g;
    stage_rows<kBM, DC, C::kLdq, kStageLoads>(
        qs, g.q + i0 * a.q_row, a.q_row, [nr](int r) -> int64_t { return r < nr ? r : -1; }, a.D, a.vec, a.bf16);

    float m[kRI], l[kRI];
    float4 o[kRI][C::kJC];
#pragma unroll
    for (int i = 0; i < kRI; ++i) {
      m[i] = neg_inf(), l[i] = 0.0f;
#pragma unroll
      for (int jj = 0; jj < C::kJC; ++jj) o[i][jj] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }

    // f32: one pass with the online softmax. bf16: pass 0 finds each row's max and sum, pass 1
    // rounds the normalised probabilities (as the CPU rounds softmax's output) for P V.
    for (int pass = a.bf16 ? 0 : 1; pass < 2; ++pass) {
      float inv[kRI];
#pragma unroll
      for (int i = 0; i < kRI; ++i) inv[i] = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
      for (int64_t kb = kmin; kb <= kmax; kb += kBN) {
        __syncthreads();  // the previous tile's readers are done with kidx, kvs and ps
        if (tid < kBN) {
          const int64_t key = kb + tid;
          kidx[tid] = key <= kmax ? key_row(range, a, key) : -1;
        }
        __syncthreads();
        stage_rows<kBN, DC, C::kLdk, kStageLoads>(
            kvs, range.k, a.k_row, [kidx](int r) { return kidx[r]; }, a.D, a.vec, a.bf16);
        __syncthreads();

        float s[kRI][8];
#pragma unroll
        for (int i = 0; i < kRI; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) s[i][j] = 0.0f;
#pragma unroll 1
        for (int d = 0; d < DC; d += 4) {
          float4 qa[kRI];
#pragma unroll
          for (int i = 0; i < kRI; ++i) qa[i] = *reinterpret_cast<const float4*>(qs + (ty + 16 * i) * C::kLdq + d);
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            const float4 kx = *reinterpret_cast<const float4*>(kvs + (tx + 8 * j) * C::kLdk + d);
#pragma unroll
            for (int i = 0; i < kRI; ++i) s[i][j] = dot4(qa[i], kx, s[i][j]);
          }
        }
        // Scaled scores of the keys each row sees (its bounds, relative to the tile); -inf elsewhere.
#pragma unroll
        for (int i = 0; i < kRI; ++i) {
          const int r = ty + 16 * i;
          int64_t lo = 0, hi = -1;
          if (r < nr) key_bounds(range, pos0 + r, lo, hi);
          lo -= kb, hi -= kb;
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            const int c = tx + 8 * j;
            s[i][j] = kidx[c] >= 0 && c >= lo && c <= hi ? biased_score(range, s[i][j] * a.scale, kb + c, pos0 + r)
                                                         : neg_inf();
          }
        }

        if (pass == 0 || !a.bf16) {
#pragma unroll
          for (int i = 0; i < kRI; ++i) {
            float mx = s[i][0];
#pragma unroll
            for (int j = 1; j < 8; ++j) mx = fmaxf(mx, s[i][j]);
            mx = row8_max(mx);
            const float mn = fmaxf(m[i], mx);
            const bool none = mn == neg_inf();  // no key seen yet: keep zeros, no inf - inf
            const float alpha = none ? 1.0f : expf(m[i] - mn);
            float rs = 0.0f;
#pragma unroll
            for (int j = 0; j < 8; ++j) {
              s[i][j] = none ? 0.0f : expf(s[i][j] - mn);
              rs += s[i][j];
            }
            rs = row8_sum(rs);
            l[i] = l[i] * alpha + rs;
            m[i] = mn;
            if (!a.bf16) {
#pragma unroll
              for (int jj = 0; jj < C::kJC; ++jj) {
                o[i][jj].x *= alpha, o[i][jj].y *= alpha, o[i][jj].z *= alpha, o[i][jj].w *= alpha;
              }
            }
          }
          if (pass == 0) continue;  // bf16 statistics only
        } else {
#pragma unroll
          for (int i = 0; i < kRI; ++i)
#pragma unroll
            for (int j = 0; j < 8; ++j) s[i][j] = m[i] == neg_inf() ? 0.0f : round_bf16(expf(s[i][j] - m[i]) * inv[i]);
        }

        __syncthreads();  // everyone is done reading K
        stage_rows<kBN, DC, C::kLdk, kStageLoads>(
            kvs, range.v, a.v_row, [kidx](int r) { return kidx[r]; }, a.D, a.vec, a.bf16);
#pragma unroll
        for (int i = 0; i < kRI; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) ps[(ty + 16 * i) * C::kLdp + tx + 8 * j] = s[i][j];
        __syncthreads();

#pragma unroll 1
        for (int kk = 0; kk < kBN; kk += 4) {
          float4 pa[kRI];
#pragma unroll
          for (int i = 0; i < kRI; ++i) pa[i] = *reinterpret_cast<const float4*>(ps + (ty + 16 * i) * C::kLdp + kk);
#pragma unroll
          for (int u = 0; u < 4; ++u) {
            const float* vrow = kvs + (kk + u) * C::kLdk;
#pragma unroll
            for (int jj = 0; jj < C::kJC; ++jj) {
              if constexpr (DC % 32 != 0) {
                if (tx + 8 * jj >= DC / 4) continue;
              }
              const float4 vv = *reinterpret_cast<const float4*>(vrow + 4 * (tx + 8 * jj));
#pragma unroll
              for (int i = 0; i < kRI; ++i) fma4(component(pa[i], u), vv, o[i][jj]);
            }
          }
        }
      }
    }

#pragma unroll
    for (int i = 0; i < kRI; ++i) {
      const int r = ty + 16 * i;
      if (r >= nr) continue;
      // A row that saw no key is 0. bf16's accumulators hold normalised probabilities already.
      const float f = l[i] > 0.0f ? (a.bf16 ? 1.0f : 1.0f / l[i]) : 0.0f;
      float* const orow = out + static_cast<int64_t>(r) * a.Hq * a.D;
#pragma unroll
      for (int jj = 0; jj < C::kJC; ++jj) {
        const int col = 4 * (tx + 8 * jj);
        if (col >= DC || col >= a.D) continue;
        float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (l[i] > 0.0f) x = make_float4(o[i][jj].x * f, o[i][jj].y * f, o[i][jj].z * f, o[i][jj].w * f);
        if (a.vec) {
          *reinterpret_cast<float4*>(orow + col) = x;
        } else {
          orow[col] = x.x;
          if (col + 1 < a.D) orow[col + 1] = x.y;
          if (col + 2 < a.D) orow[col + 2] = x.z;
          if (col + 3 < a.D) orow[col + 3] = x.w;
        }
      }
    }
  }
}

// Reductions over the block; every thread gets the result. `red` holds kWarps floats.
__device__ __forceinline__ float block_max(float x, float* red) {
  x = warp_max(x);
  __syncthreads();  // red's previous readers are done
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = x;
  __syncthreads();
  float r = red[0];
#pragma unroll
  for (int w = 1; w < kWarps; ++w) r = fmaxf(r, red[w]);
  return r;
}

__device__ __forceinline__ float block_sum(float x, float* red) {
  x = warp_sum(x);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = x;
  __syncthreads();
  float r = red[0];
#pragma unroll
  for (int w = 1; w < kWarps; ++w) r += red[w];
  return r;
}

// D > 256: one block per (query row, q head), keys in rounds of 128 (one per thread), the
// output accumulated in shared memory (thread tid owns dims tid, tid + 128, ...). Slow but any D.
__global__ void __launch_bounds__(kThreads) attention_any_d_kernel(const AttnArgs a, int64_t rows) {
  extern __shared__ float4 smem4[];
  float* const qv = reinterpret_cast<float*>(smem4);
  float* const acc = qv + a.D;
  float* const pr = acc + a.D;
  float* const red = pr + kThreads;
  int64_t* const krow = reinterpret_cast<int64_t*>(red + 2 * kWarps);  // 2 D + 136 floats: 8-byte aligned
  const int tid = static_cast<int>(threadIdx.x);
  for (int64_t w = blockIdx.x; w < rows * a.Hq; w += gridDim.x) {
    const int64_t t = w / a.Hq, h = w % a.Hq;
    float* const o = a.out + (t * a.Hq + h) * a.D;
    Range g = no_range();
    int64_t i = 0;
    if (a.mode == Mode::Dense) {
      g = dense_range(a, t / a.Sq, h);
      i = t % a.Sq;
    } else {
      const int64_t s = find_seq(a.qs, a.S, t);
      if (s < 0) {
        g.fill = 1;
      } else {
        g = seq_range(a, s + 1, h);
        i = t - g.row0;
      }
    }
    if (g.fill != 0) {
      if (g.fill > 0) {
        for (int64_t d = tid; d < a.D; d += kThreads) o[d] = g.fill == 1 ? 0.0f : quiet_nan();
      }
      continue;
    }
    __syncthreads();  // the previous row's readers are done with qv
    for (int64_t d = tid; d < a.D; d += kThreads) {
      const float x = g.q[i * a.q_row + d];
      qv[d] = a.bf16 ? round_bf16(x) : x;
      acc[d] = 0.0f;
    }
    __syncthreads();
    int64_t lo, hi;
    key_bounds(g, i + g.off, lo, hi);
    float m = neg_inf(), l = 0.0f;
    for (int pass = a.bf16 ? 0 : 1; pass < 2; ++pass) {
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;
      for (int64_t kb = lo; kb <= hi; kb += kThreads) {
        const int64_t key = kb + tid;
        const int64_t row = key <= hi ? key_row(g, a, key) : -1;
        float sc = neg_inf();
        if (row >= 0) {
          const float* kr = g.k + row * a.k_row;
          float dot = 0.0f;
          for (int64_t d = 0; d < a.D; ++d) dot = fmaf(qv[d], a.bf16 ? round_bf16(kr[d]) : kr[d], dot);
          sc = biased_score(g, dot * a.scale, key, i + g.off);
        }
        const float mx = block_max(sc, red);
        float p;
        if (pass == 0 || !a.bf16) {
          const float mn = fmaxf(m, mx);
          const bool none = mn == neg_inf();
          const float alpha = none ? 1.0f : expf(m - mn);
          p = none ? 0.0f : expf(sc - mn);
          l = l * alpha + block_sum(p, red);
          m = mn;
          if (pass == 0) continue;
          for (int64_t d = tid; d < a.D; d += kThreads) acc[d] *= alpha;
        } else {
          p = m == neg_inf() ? 0.0f : round_bf16(expf(sc - m) * inv);
        }
        __syncthreads();  // the previous round's readers are done with pr and krow
        pr[tid] = p;
        krow[tid] = row;
        __syncthreads();
        const int n = static_cast<int>(imin(kThreads, hi - kb + 1));
        for (int64_t d = tid; d < a.D; d += kThreads) {
          float x = acc[d];
          for (int j = 0; j < n; ++j) {
            if (krow[j] < 0) continue;
            const float vx = g.v[krow[j] * a.v_row + d];
            x = fmaf(pr[j], a.bf16 ? round_bf16(vx) : vx, x);
          }
          acc[d] = x;
        }
      }
    }
    const float f = l > 0.0f ? (a.bf16 ? 1.0f : 1.0f / l) : 0.0f;
    for (int64_t d = tid; d < a.D; d += kThreads) o[d] = l > 0.0f ? acc[d] * f : 0.0f;
  }
}

// ------------------------------------------------------------------ paged decode

struct DecodeArgs {
  const float* q = nullptr;
  int64_t q_row = 0, q_head = 0;
  const float* k_cache = nullptr;
  const float* v_cache = nullptr;
  const int32_t* block_tables = nullptr;
  int64_t max_blocks = 0, block_size = 1;
  const int32_t* seq_lens = nullptr;
  Starts qs;
  int64_t S = 0, T = 0, Hq = 0, Hkv = 0, D = 0;
  int64_t G = 1, NG = 1, NS = 1;  // q heads per kv head, blocks of kGB of them, splits
  int64_t window = 0;
  float scale = 1.0f;
  const float* pos_bias = nullptr;  // [Hq, 2W + 1] or null (kernels.h launch_varlen_attention)
  int64_t pos_bias_w = 0;
  bool bf16 = false, vec = false;
  // Work unit u: row u (per_row, every row of the batch), or sequence u when it has at most
  // max_rows rows (the flash kernel takes the others and the rows no sequence owns).
  bool per_row = true;
  int64_t max_rows = 0;
  int64_t units = 0;
  float* out = nullptr;
  // Split-K partials (NS > 1): [NS][part_rows][Hq] (max, sum) and [NS][part_rows][Hq][D] outputs;
  // partial row: t (per_row) or u * max_rows + (t - qs[u]).
  float2* part_ml = nullptr;
  float* part_out = nullptr;
  int64_t part_rows = 0;
};

struct RowSpan {
  int64_t seq, t0, t1;  // seq -1: rows no sequence owns
};

__device__ __forceinline__ RowSpan decode_span(const DecodeArgs& a, int64_t u) {
  if (a.per_row) return RowSpan{find_seq(a.qs, a.S, u), u, u + 1};
  const int64_t b = a.qs[u], e = a.qs[u + 1];
  if (e <= b || e - b > a.max_rows) return RowSpan{-1, 0, 0};
  return RowSpan{u, imax(b, 0), imin(e, a.T)};
}

struct DecodeRow {
  int kind;       // 0 attend keys lo .. p; 1 zeros; 2 NaN (inconsistent sequence)
  int64_t p, lo;  // the row's position and its first key
  const int32_t* table;
};

__device__ __forceinline__ DecodeRow decode_row(const DecodeArgs& a, int64_t seq, int64_t t) {
  DecodeRow r{1, 0, 0, nullptr};
  if (seq < 0) return r;
  const int64_t b = a.qs[seq], n = a.qs[seq + 1] - b, len = a.seq_lens[seq];
  if (n > len || len > a.max_blocks * a.block_size) {
    r.kind = 2;
    return r;
  }
  r.kind = 0;
  r.p = len - n + (t - b);  // the new rows are the sequence's last positions
  r.lo = a.window > 0 ? imax(0, r.p - a.window + 1) : 0;
  r.table = a.block_tables + seq * a.max_blocks;
  return r;
}

__device__ __forceinline__ int64_t partial_row(const DecodeArgs& a, int64_t u, int64_t t) {
  return a.per_row ? t : u * a.max_rows + (t - a.qs[u]);
}

template <int DC>
struct DecodeCfg {
  static constexpr int kLdk = DC + 8;         // the two threads of a key read different banks
  static constexpr int kNc = DC / 4;          // float4 columns (P V: one per thread)
  static constexpr int kKg = kThreads / kNc;  // key groups of the P V product
  static constexpr int kKvFloats = kKC * kLdk > kKg* kGB* DC ? kKC* kLdk : kKg* kGB* DC;
  static constexpr int kFloats = kGB * DC + kKvFloats + kGB * kPart + 2 * kGB;
  static constexpr size_t kSmemBytes = kFloats * sizeof(float) + kKC * sizeof(int64_t);
};

// One block per (unit, kv head, block of up to kGB of its q heads, split), grid-strided. Per row:
// (1) scores of the split's keys (at most kPart) for all the block's heads: K staged in chunks of
// 64 keys, two threads per key, q in shared memory; (2) a warp per head turns them into
// probabilities normalised over the split; (3) V staged in chunks, thread (key group, float4
// column) accumulates every head, then the key groups are summed. One split writes the output;
// several write partials (and their max and sum) for the combine kernel.
template <int DC>
__global__ void __launch_bounds__(kThreads, DC <= 128 ? 4 : 2) paged_decode_kernel(const DecodeArgs a) {
  using C = DecodeCfg<DC>;
  extern __shared__ float4 smem4[];
  float* const qsm = reinterpret_cast<float*>(smem4);  // [kGB][DC]
  float* const kv = qsm + kGB * DC;                    // [kKC][kLdk] chunk, later [kKg][kGB][DC] sums
  float* const sc = kv + C::kKvFloats;                 // [kGB][kPart] scores, then probabilities
  float* const st_m = sc + kGB * kPart;
  float* const st_l = st_m + kGB;
  int64_t* const kidx = reinterpret_cast<int64_t*>(st_l + kGB);  // cache rows of the chunk
  const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5;
  const int kk = tid >> 1, half = tid & 1;          // scores: key kk, d-quads of parity `half`
  const int col = tid % C::kNc, kg = tid / C::kNc;  // P V
  const int64_t items = a.units * a.Hkv * a.NG * a.NS;
  for (int64_t w = blockIdx.x; w < items; w += gridDim.x) {
    const int64_t split = w % a.NS;
    int64_t rest = w / a.NS;
    const int64_t gi = rest % a.NG;
    rest /= a.NG;
    const int64_t hk = rest % a.Hkv, u = rest / a.Hkv;
    const int64_t h0 = hk * a.G + gi * kGB;  // first q head
    const int gc = static_cast<int>(imin(kGB, a.G - gi * kGB));
    const RowSpan span = decode_span(a, u);
    for (int64_t t = span.t0; t < span.t1; ++t) {
      const DecodeRow row = decode_row(a, span.seq, t);
      if (row.kind != 0) {
        if (a.NS == 1) {  // else the combine kernel writes them
          const float val = row.kind == 1 ? 0.0f : quiet_nan();
          for (int64_t e = tid; e < gc * a.D; e += kThreads) a.out[(t * a.Hq + h0) * a.D + e] = val;
        }
        continue;
      }
      const int64_t prow = partial_row(a, u, t);
      // The split's keys: an even share of lo .. p (at most kPart: the launcher picks NS so).
      const int64_t share = (row.p - row.lo + 1 + a.NS - 1) / a.NS;
      const int64_t k0 = row.lo + split * share, k1 = imin(k0 + share, row.p + 1);
      if (k1 <= k0) {
        if (tid < gc) a.part_ml[(split * a.part_rows + prow) * a.Hq + h0 + tid] = make_float2(neg_inf(), 0.0f);
        continue;
      }
      const int nk = static_cast<int>(k1 - k0);

      __syncthreads();  // the previous row's readers are done with shared memory
      for (int e = tid; e < kGB * DC; e += kThreads) {
        const int g = e / DC, d = e % DC;
        float x = 0.0f;
        if (g < gc && d < a.D) x = __ldg(a.q + t * a.q_row + (h0 + g) * a.q_head + d);
        qsm[e] = a.bf16 ? round_bf16(x) : x;
      }

      // (1) scores
      for (int64_t c0 = k0; c0 < k1; c0 += kKC) {
        __syncthreads();  // q is staged; the previous chunk's readers are done
        if (tid < kKC) kidx[tid] = c0 + tid < k1 ? cache_row(row.table, a.block_size, c0 + tid) : -1;
        __syncthreads();
        stage_rows<kKC, DC, C::kLdk, kStageLoads>(
            kv, a.k_cache + hk * a.D, a.Hkv * a.D, [kidx](int r) { return kidx[r]; }, a.D, a.vec, a.bf16);
        __syncthreads();
        float acc[kGB];
#pragma unroll
        for (int g = 0; g < kGB; ++g) acc[g] = 0.0f;
#pragma unroll 1
        for (int st = 0; st < DC / 8; ++st) {
          const int d = (2 * st + half) * 4;
          const float4 kx = *reinterpret_cast<const float4*>(kv + kk * C::kLdk + d);
#pragma unroll
          for (int g = 0; g < kGB; ++g) {
            if (g < gc) acc[g] = dot4(*reinterpret_cast<const float4*>(qsm + g * DC + d), kx, acc[g]);
          }
        }
#pragma unroll
        for (int g = 0; g < kGB; ++g) acc[g] += __shfl_xor_sync(kFullMask, acc[g], 1);
        const int j = static_cast<int>(c0 - k0) + kk;
        if (half == 0 && j < nk) {
          const bool ok = kidx[kk] >= 0;
          // The position bias of this key for the row (position row.p), per q head.
          const int64_t rel = imin(imax(c0 + kk - row.p, -a.pos_bias_w), a.pos_bias_w) + a.pos_bias_w;
#pragma unroll
          for (int g = 0; g < kGB; ++g) {
            if (g < gc) {
              float x = acc[g] * a.scale;
              if (a.pos_bias) x += a.pos_bias[(h0 + g) * (2 * a.pos_bias_w + 1) + rel];
              sc[g * kPart + j] = ok ? x : neg_inf();
            }
          }
        }
      }
      __syncthreads();

      // (2) softmax over the split, as the CPU's attn_softmax: e = exp(s - max), p = e / sum e.
      for (int g = warp; g < gc; g += kWarps) {
        float* const p = sc + g * kPart;
        float mx = neg_inf();
        for (int j = lane; j < nk; j += 32) mx = fmaxf(mx, p[j]);
        mx = warp_max(mx);
        float sum = 0.0f;
        for (int j = lane; j < nk; j += 32) {
          const float e = mx == neg_inf() ? 0.0f : expf(p[j] - mx);
          p[j] = e;
          sum += e;
        }
        sum = warp_sum(sum);
        const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
        for (int j = lane; j < nk; j += 32) p[j] = a.bf16 ? round_bf16(p[j] * inv) : p[j] * inv;
        if (lane == 0) st_m[g] = mx, st_l[g] = sum;
      }

      // (3) P V
      float4 acc[kGB];
#pragma unroll
      for (int g = 0; g < kGB; ++g) acc[g] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      for (int64_t c0 = k0; c0 < k1; c0 += kKC) {
        __syncthreads();  // the probabilities are written; the previous chunk's readers are done
        if (tid < kKC) kidx[tid] = c0 + tid < k1 ? cache_row(row.table, a.block_size, c0 + tid) : -1;
        __syncthreads();
        stage_rows<kKC, DC, C::kLdk, kStageLoads>(
            kv, a.v_cache + hk * a.D, a.Hkv * a.D, [kidx](int r) { return kidx[r]; }, a.D, a.vec, a.bf16);
        __syncthreads();
        if (kg < C::kKg) {
          const int base = static_cast<int>(c0 - k0), nv = static_cast<int>(imin(kKC, k1 - c0));
          for (int j = kg; j < nv; j += C::kKg) {
            const float4 vx = *reinterpret_cast<const float4*>(kv + j * C::kLdk + 4 * col);
#pragma unroll
            for (int g = 0; g < kGB; ++g) {
              if (g < gc) fma4(sc[g * kPart + base + j], vx, acc[g]);
            }
          }
        }
      }
      __syncthreads();  // done with the chunk buffer: it takes the key groups' sums
      float* const red = kv;
      if (kg < C::kKg) {
#pragma unroll
        for (int g = 0; g < kGB; ++g) {
          if (g < gc) *reinterpret_cast<float4*>(red + (kg * kGB + g) * DC + 4 * col) = acc[g];
        }
      }
      __syncthreads();
      for (int e = tid; e < gc * DC; e += kThreads) {
        const int g = e / DC, d = e % DC;
        if (d >= a.D) continue;
        float x = 0.0f;
        for (int q = 0; q < C::kKg; ++q) x += red[(q * kGB + g) * DC + d];
        if (a.NS == 1) {
          a.out[(t * a.Hq + h0 + g) * a.D + d] = x;
        } else {
          a.part_out[((split * a.part_rows + prow) * a.Hq + h0 + g) * a.D + d] = x;
        }
      }
      if (a.NS > 1 && tid < gc)
        a.part_ml[(split * a.part_rows + prow) * a.Hq + h0 + tid] = make_float2(st_m[tid], st_l[tid]);
    }
  }
}

// Merges the splits of the decode kernel's rows: out = sum_s w_s out_s / sum_s w_s with
// w_s = sum_s * exp(max_s - max), over the splits that saw a key. A warp per (row, q head).
__global__ void __launch_bounds__(kThreads) paged_combine_kernel(const DecodeArgs a) {
  const int lane = static_cast<int>(threadIdx.x & 31), warp = static_cast<int>(threadIdx.x >> 5);
  const int64_t stride = a.part_rows * a.Hq;  // between splits, in (max, sum) pairs
  for (int64_t u = blockIdx.x; u < a.units; u += gridDim.x) {
    const RowSpan span = decode_span(a, u);
    for (int64_t e = warp; e < (span.t1 - span.t0) * a.Hq; e += kWarps) {
      const int64_t t = span.t0 + e / a.Hq, h = e % a.Hq;
      float* const o = a.out + (t * a.Hq + h) * a.D;
      const DecodeRow row = decode_row(a, span.seq, t);
      if (row.kind != 0) {
        const float val = row.kind == 1 ? 0.0f : quiet_nan();
        for (int64_t d = lane; d < a.D; d += 32) o[d] = val;
        continue;
      }
      const int64_t prow = partial_row(a, u, t);
      const float2* const ml = a.part_ml + prow * a.Hq + h;
      const float* const po = a.part_out + (prow * a.Hq + h) * a.D;
      float mx = neg_inf();
      for (int64_t s = 0; s < a.NS; ++s) {
        const float2 x = ml[s * stride];
        if (x.y > 0.0f) mx = fmaxf(mx, x.x);
      }
      float total = 0.0f;
      for (int64_t s = 0; s < a.NS; ++s) {
        const float2 x = ml[s * stride];
        if (x.y > 0.0f) total += x.y * expf(x.x - mx);
      }
      for (int64_t d = lane; d < a.D; d += 32) {
        float acc = 0.0f;
        for (int64_t s = 0; s < a.NS; ++s) {
          const float2 x = ml[s * stride];
          if (x.y > 0.0f) acc = fmaf(x.y * expf(x.x - mx), po[s * stride * a.D + d], acc);
        }
        o[d] = total > 0.0f ? acc / total : 0.0f;
      }
    }
  }
}

// ------------------------------------------------------------------ host side

// The padded head dim a template instance runs, or 0 for the any-D kernel.
int head_bucket(int64_t D) {
  return D <= 32 ? 32 : D <= 64 ? 64 : D <= 80 ? 80 : D <= 96 ? 96 : D <= 128 ? 128 : D <= 256 ? 256 : 0;
}

template <class F>
void with_bucket(int dc, const F& f) {
  switch (dc) {
    case 32: f(std::integral_constant<int, 32>{}); break;
    case 64: f(std::integral_constant<int, 64>{}); break;
    case 80: f(std::integral_constant<int, 80>{}); break;
    case 96: f(std::integral_constant<int, 96>{}); break;
    case 128: f(std::integral_constant<int, 128>{}); break;
    default: f(std::integral_constant<int, 256>{}); break;
  }
}

bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

bool view_aligned(const HeadsView& v) {
  return aligned16(v.data) && v.row_stride % 4 == 0 && v.head_stride % 4 == 0;
}

// The slots (flash_slots) and what each holds (tile_range): attention_common.cuh.
template <int DC>
void run_flash(AttnArgs a, cudaStream_t stream) {
  constexpr int kBM = FlashCfg<DC>::kBM;
  a.nslots = flash_slots(a, kBM);
  const int64_t blocks = a.nslots * a.Hq;
  if (blocks <= 0) return;
  static std::atomic<uint64_t> done{0};
  allow_smem(flash_attention_kernel<DC>, FlashCfg<DC>::kSmemBytes, done);
  flash_attention_kernel<DC><<<grid_of(blocks), kThreads, FlashCfg<DC>::kSmemBytes, stream>>>(a);
}

void run_any_d(const AttnArgs& a, int64_t rows, cudaStream_t stream) {
  const int64_t blocks = rows * a.Hq;
  if (blocks <= 0) return;
  const size_t smem = (2 * a.D + kThreads + 2 * kWarps) * sizeof(float) + kThreads * sizeof(int64_t);
  static std::atomic<uint64_t> done{0};
  allow_smem(attention_any_d_kernel, smem, done);
  attention_any_d_kernel<<<grid_of(blocks), kThreads, smem, stream>>>(a, rows);
}

template <int DC>
void run_decode(const DecodeArgs& d, cudaStream_t stream) {
  static std::atomic<uint64_t> done{0};
  allow_smem(paged_decode_kernel<DC>, DecodeCfg<DC>::kSmemBytes, done);
  paged_decode_kernel<DC><<<grid_of(d.units * d.Hkv * d.NG * d.NS), kThreads, DecodeCfg<DC>::kSmemBytes, stream>>>(d);
}

int sm_count() {
  int dev = 0, n = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0)
    return 132;
  return n;
}

// The multi-row work of bf16 products runs on the tensor-core kernel (attention_mma_kernels.cu)
// where it takes the head dim: the default since an H100 run passed the conformance and parity
// tests with it (2048-token prefill 14.3 ms vs 33.7 ms on the FMA kernel). IA_CUDA_ATTENTION=fma
// keeps the f32 FMA kernel (the A/B of bench.sh); read once. f32 products always run the f32 kernel.
bool mma_attention_enabled() {
  static const bool enabled = [] {
    const char* e = std::getenv("IA_CUDA_ATTENTION");
    return !(e && std::strcmp(e, "fma") == 0);
  }();
  return enabled;
}

void run_multi_row(const AttnArgs& a, int dc, cudaStream_t stream) {
  // The tensor-core kernel has no position bias.
  if (a.bf16 && !a.pos_bias && mma_attention_enabled() && run_flash_mma(a, dc, stream)) return;
  with_bucket(dc, [&](auto tag) { run_flash<decltype(tag)::value>(a, stream); });
}

}  // namespace

void launch_attention(const HeadsView& q, int64_t q_batch_stride, const HeadsView& k, const HeadsView& v,
                      int64_t kv_batch_stride, const float* key_mask, float scale, bool causal, float* out, int64_t B,
                      int64_t Sq, int64_t Sk, int64_t H, int64_t D, cudaStream_t stream) {
  if (B <= 0 || Sq <= 0 || H <= 0 || D <= 0) return;
  AttnArgs a;
  a.mode = Mode::Dense;
  a.q = q.data, a.q_row = q.row_stride, a.q_head = q.head_stride, a.q_batch = q_batch_stride;
  a.k = k.data, a.k_row = k.row_stride, a.k_head = k.head_stride;
  a.v = v.data, a.v_row = v.row_stride, a.v_head = v.head_stride;
  a.kv_batch = kv_batch_stride;
  a.key_mask = key_mask;
  a.out = out;
  a.B = B, a.Sq = Sq, a.Sk = Sk;
  a.T = B * Sq, a.Hq = H, a.Hkv = H, a.D = D;
  a.scale = scale;
  a.causal = causal;
  a.vec = D % 4 == 0 && view_aligned(q) && view_aligned(k) && view_aligned(v) && q_batch_stride % 4 == 0 &&
          kv_batch_stride % 4 == 0 && aligned16(out);
  const int dc = head_bucket(D);
  if (dc == 0) return run_any_d(a, B * Sq, stream);
  run_multi_row(a, dc, stream);  // f32: AttentionParams has no bf16 products (yet)
}

void launch_varlen_attention(const HeadsView& q, const HeadsView& k, const HeadsView& v, const void* query_start,
                             bool starts_i64, int64_t S, float scale, bool causal, int64_t window, bool bf16_products,
                             const float* pos_bias, int64_t pos_bias_w, float* out, int64_t T, int64_t Hq, int64_t Hkv,
                             int64_t D, cudaStream_t stream) {
  if (T <= 0 || Hq <= 0 || Hkv <= 0 || D <= 0) return;
  AttnArgs a;
  a.mode = Mode::Varlen;
  a.q = q.data, a.q_row = q.row_stride, a.q_head = q.head_stride;
  a.k = k.data, a.k_row = k.row_stride, a.k_head = k.head_stride;
  a.v = v.data, a.v_row = v.row_stride, a.v_head = v.head_stride;
  a.out = out;
  a.qs = Starts{query_start, starts_i64};
  a.S = S;
  a.T = T, a.Hq = Hq, a.Hkv = Hkv, a.D = D;
  a.scale = scale;
  a.causal = causal;
  a.window = window;
  a.bf16 = bf16_products;
  a.pos_bias = pos_bias;
  a.pos_bias_w = pos_bias_w;
  a.vec = D % 4 == 0 && view_aligned(q) && view_aligned(k) && view_aligned(v) && aligned16(out);
  const int dc = head_bucket(D);
  if (dc == 0) return run_any_d(a, T, stream);
  run_multi_row(a, dc, stream);
}

void launch_cross_attention(const HeadsView& q, const HeadsView& k, const HeadsView& v, const int32_t* query_start,
                            const int32_t* kv_ranges, int64_t S, float scale, bool bf16_products, float* out, int64_t T,
                            int64_t Hq, int64_t Hkv, int64_t D, cudaStream_t stream) {
  if (T <= 0 || Hq <= 0 || Hkv <= 0 || D <= 0) return;
  AttnArgs a;
  a.mode = Mode::Cross;
  a.q = q.data, a.q_row = q.row_stride, a.q_head = q.head_stride;
  a.k = k.data, a.k_row = k.row_stride, a.k_head = k.head_stride;
  a.v = v.data, a.v_row = v.row_stride, a.v_head = v.head_stride;
  a.out = out;
  a.qs = Starts{query_start, false};
  a.kv_ranges = kv_ranges;
  a.S = S;
  a.T = T, a.Hq = Hq, a.Hkv = Hkv, a.D = D;
  a.scale = scale;
  a.bf16 = bf16_products;
  a.vec = D % 4 == 0 && view_aligned(q) && view_aligned(k) && view_aligned(v) && aligned16(out);
  const int dc = head_bucket(D);
  if (dc == 0) return run_any_d(a, T, stream);
  run_multi_row(a, dc, stream);
}

void launch_paged_attention(const HeadsView& q, const float* k_cache, const float* v_cache, int64_t block_size,
                            const int32_t* block_tables, int64_t max_blocks, const int32_t* seq_lens,
                            const int32_t* query_start, int64_t S, float scale, int64_t window, bool bf16_products,
                            const float* pos_bias, int64_t pos_bias_w, float* out, int64_t T, int64_t Hq, int64_t Hkv,
                            int64_t D, cudaStream_t stream) {
  if (T <= 0 || Hq <= 0 || Hkv <= 0 || D <= 0 || block_size <= 0) return;
  AttnArgs a;
  a.mode = Mode::Paged;
  a.q = q.data, a.q_row = q.row_stride, a.q_head = q.head_stride;
  a.k = k_cache, a.k_row = Hkv * D, a.k_head = D;
  a.v = v_cache, a.v_row = Hkv * D, a.v_head = D;
  a.out = out;
  a.qs = Starts{query_start, false};
  a.S = S;
  a.block_tables = block_tables, a.max_blocks = max_blocks, a.block_size = block_size;
  a.seq_lens = seq_lens;
  a.T = T, a.Hq = Hq, a.Hkv = Hkv, a.D = D;
  a.scale = scale;
  a.causal = true;
  a.window = window;
  a.bf16 = bf16_products;
  a.pos_bias = pos_bias;
  a.pos_bias_w = pos_bias_w;
  a.vec = D % 4 == 0 && view_aligned(q) && aligned16(k_cache) && aligned16(v_cache) && aligned16(out);
  const int dc = head_bucket(D);
  if (dc == 0) return run_any_d(a, T, stream);

  // Decode steps (no more rows than sequences): the decode kernel takes every row, one unit
  // each. Otherwise the flash kernel takes the sequences of more than kDecodeMaxRows rows and
  // the rows no sequence owns, the decode kernel the short sequences, one unit each.
  const bool per_row = T <= S;
  if (!per_row) {
    a.min_rows = kDecodeMaxRows;
    run_multi_row(a, dc, stream);
  }
  DecodeArgs d;
  d.q = q.data, d.q_row = q.row_stride, d.q_head = q.head_stride;
  d.k_cache = k_cache, d.v_cache = v_cache;
  d.block_tables = block_tables, d.max_blocks = max_blocks, d.block_size = block_size;
  d.seq_lens = seq_lens;
  d.qs = a.qs;
  d.S = S, d.T = T, d.Hq = Hq, d.Hkv = Hkv, d.D = D;
  d.G = Hq / Hkv;
  d.NG = (d.G + kGB - 1) / kGB;
  d.window = window;
  d.scale = scale;
  d.pos_bias = pos_bias;
  d.pos_bias_w = pos_bias_w;
  d.bf16 = bf16_products;
  d.vec = a.vec;
  d.per_row = per_row;
  d.max_rows = kDecodeMaxRows;
  d.units = per_row ? T : S;
  d.out = out;
  if (d.units <= 0) return;

  // Splits: enough that a split's keys fit in shared memory (at most kPart: no row sees more
  // than the table's capacity or the window), more while the blocks would not fill the GPU with
  // about 4 each per SM, but not below ~128 keys per split.
  int64_t cap = max_blocks * block_size;
  if (window > 0) cap = imin(cap, window);
  cap = imax(cap, 1);
  const int64_t ns_min = (cap + kPart - 1) / kPart;
  const int64_t blocks = d.units * Hkv * d.NG;
  const int64_t ns_fill = (4 * int64_t{sm_count()} + blocks - 1) / blocks;
  const int64_t ns_useful = (cap + 127) / 128;
  d.NS = imax(ns_min, imin(ns_fill, ns_useful));
  float* scratch = nullptr;
  if (d.NS > 1) {
    d.part_rows = per_row ? T : S * kDecodeMaxRows;
    const int64_t n = d.NS * d.part_rows * Hq;
    if (cudaMallocAsync(reinterpret_cast<void**>(&scratch), static_cast<size_t>(n * (D + 2)) * sizeof(float), stream) !=
        cudaSuccess) {
      if (ns_min > 1) return;    // the error stays for the caller's cudaGetLastError
      (void)cudaGetLastError();  // one split needs no scratch
      scratch = nullptr;
      d.NS = 1;
    } else {
      d.part_ml = reinterpret_cast<float2*>(scratch);
      d.part_out = scratch + 2 * n;
    }
  }
  with_bucket(dc, [&](auto tag) { run_decode<decltype(tag)::value>(d, stream); });
  if (scratch) {
    paged_combine_kernel<<<grid_of(d.units), kThreads, 0, stream>>>(d);
    (void)cudaFreeAsync(scratch, stream);
  }
}

}  // namespace ia::cuda
