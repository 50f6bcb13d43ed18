// The tensor-core flash-attention kernel for bf16 products (a bf16 model's prefill and encoder
// attention), in FlashAttention-2's structure: a block of 4 warps per (64 query rows, q head), each
// warp owning 16 rows; K and V tiles of kBN keys are read as f32, rounded to bf16 (nearest even,
// as the f32 kernel rounds them) into double-buffered shared memory, and both products run on
// mma.sync.m16n8k16 (bf16 inputs, f32 accumulators). Scores stay in the accumulator registers:
// the online softmax (f32, row max and sum in registers) turns them into unnormalised weights,
// which are rounded to bf16 and reused in place as the A operand of P V; the output is divided
// by the row sum at the end and written as f32. This is how PyTorch's flash SDPA runs a bf16
// model: bf16 q, k, v and P, f32 accumulation and softmax.
//
// Semantics are the f32 flash kernel's (attention_kernels.cu): the same work items and ranges
// (attention_common.cuh: tile_range, key_bounds, key_row), so rows no sequence owns are zeros, an
// inconsistent paged sequence is NaN, a row that sees no key is zeros, and masked keys (a dense
// key mask, a negative block id) are left out.
//
// Pipeline of one key tile (one __syncthreads per tile): the next tile's K rows are loaded into
// registers before S = Q K^T and stored to the other buffer after it; the next V rows are loaded
// before the softmax and P V and stored after them. The key rows of a tile (cache rows through
// the block table, or -1 for a masked key) are found two tiles ahead into one of three slots.
//
// Fragment layouts and the lanes' ldmatrix addresses are attention_mma_layout.h's, where each is
// derived from the PTX ISA; tests/unit/ops/attention_mma_layout_test.cpp emulates them.
#include <atomic>
#include <cstdint>

#include "backends/cuda/attention_common.cuh"
#include "backends/cuda/attention_mma_layout.h"

namespace ia::cuda::attention {
namespace {

namespace ml = mma_layout;

constexpr int kMmaThreads = 128;
constexpr int kMmaWarps = kMmaThreads / 32;
constexpr int kRowsPerWarp = 16;                  // one m16 block of query rows per warp
constexpr int kQRows = kRowsPerWarp * kMmaWarps;  // query rows per block
constexpr unsigned kAllLanes = 0xffffffffu;

template <int DC>
struct MmaCfg {
  static_assert(DC % 16 == 0 && DC <= 128, "head dims of whole k-steps, at most 128");
  // Keys per tile. 32 for the widest heads keeps the prefetched tile (kBN * DC / 128 floats a
  // thread) and the output accumulators (DC / 2) within the registers of two blocks per SM.
  static constexpr int kBN = DC <= 96 ? 64 : 32;
  static constexpr int kLd = DC + 8;    // bf16 row stride: 16 bytes of pad put the 8 rows one
                                        // ldmatrix reads in 8 different 16-byte bank groups
  static constexpr int kKD = DC / 16;   // k-steps of Q K^T
  static constexpr int kND = DC / 8;    // n-blocks of the output (8 dims each)
  static constexpr int kNB = kBN / 8;   // n-blocks of the scores (8 keys each)
  static constexpr int kKK = kBN / 16;  // k-steps of P V
  static constexpr int kMaskWords = kBN / 32;
  // Register budget: 170 or 255 a thread (ptxas wants about 165 for DC = 32, 230-255 above, where
  // it hoists the V prefetch above S = Q K^T; two blocks is 8 warps an SM, as FlashAttention-2 runs).
  static constexpr int kMinBlocks = DC <= 32 ? 3 : 2;
  // Shared memory: Q [kQRows][kLd], K [2][kBN][kLd] and V [2][kBN][kLd] bf16, then the key rows
  // [3][kBN] i64 and their usable-key bits [3][kMaskWords] u32.
  static constexpr size_t kQElems = static_cast<size_t>(kQRows) * kLd;
  static constexpr size_t kTileElems = static_cast<size_t>(kBN) * kLd;
  static constexpr size_t kSmemBytes =
      (kQElems + 4 * kTileElems) * sizeof(uint16_t) + 3 * kBN * sizeof(int64_t) + 3 * kMaskWords * sizeof(uint32_t);
  static_assert((kQElems + 4 * kTileElems) * sizeof(uint16_t) % 16 == 0, "key rows 16-byte aligned");
};

// ---------------------------------------------------------------- PTX wrappers

__device__ __forceinline__ uint32_t smem_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Two f32 -> one bf16x2 (round to nearest even): lo in bits 0-15, hi in bits 16-31. cvt packs its
// first source into the upper half.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  uint32_t r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

// Four 8x8 b16 matrices (attention_mma_layout.h: ldsm_elem); `volatile` keeps the shared-memory
// read between the barriers that order it.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// d += a b: a 16x16 bf16 (4 registers), b 16x8 bf16 (2), d 16x8 f32 (4).
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// ---------------------------------------------------------------- staging f32 rows as bf16

// ROWS rows of DC floats in flight in this thread's registers: chunk e = tid + i * threads (i <
// kPer) is 4 floats, row e / (DC / 4), columns 4 (e % (DC / 4)) .. + 3. A row with row_of(r) < 0
// and the columns from D on are zeros (the zero padding adds nothing to either product).
template <int ROWS, int DC>
struct StagedRows {
  static constexpr int kChunksPerRow = DC / 4;
  static constexpr int kPer = ROWS * kChunksPerRow / kMmaThreads;
  static_assert(ROWS * kChunksPerRow % kMmaThreads == 0, "whole rounds of the block");
  float4 v[kPer];

  template <class RowOf>
  __device__ __forceinline__ void load(const float* src, int64_t stride, const RowOf& row_of, int64_t D, bool vec) {
    const int tid = static_cast<int>(threadIdx.x);
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int e = tid + i * kMmaThreads, r = e / kChunksPerRow, c = e % kChunksPerRow * 4;
      const int64_t row = row_of(r);
      float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (row >= 0 && c < D) {
        const float* p = src + row * stride + c;
        if (vec) {
          x = __ldg(reinterpret_cast<const float4*>(p));  // D % 4 == 0: the chunk is inside the row
        } else {
          x.x = __ldg(p);
          if (c + 1 < D) x.y = __ldg(p + 1);
          if (c + 2 < D) x.z = __ldg(p + 2);
          if (c + 3 < D) x.w = __ldg(p + 3);
        }
      }
      v[i] = x;
    }
  }

  // To a [ROWS][DC + 8] bf16 tile: 8 bytes a chunk.
  __device__ __forceinline__ void store(uint16_t* dst) const {
    const int tid = static_cast<int>(threadIdx.x);
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int e = tid + i * kMmaThreads, r = e / kChunksPerRow, c = e % kChunksPerRow * 4;
      *reinterpret_cast<uint2*>(dst + r * (DC + 8) + c) =
          make_uint2(pack_bf16x2(v[i].x, v[i].y), pack_bf16x2(v[i].z, v[i].w));
    }
  }
};

// Finding a tile's key rows (key_row's results: -1 for a masked key) in two steps, so that the
// loads they need (the dense key mask, the paged block table) are in flight during a tile's
// products rather than stalling the warps that look them up. Threads below kBN, one key each.
struct KeyLookup {
  int64_t key = 0;
  float keep = 1.0f;  // dense: the key mask's value (0 = padding)
  int32_t block = 0;  // paged: the block id of the key's position
};

__device__ __forceinline__ KeyLookup start_key_lookup(const Range& g, const AttnArgs& a, int64_t key, int64_t kmax) {
  KeyLookup k;
  k.key = key;
  if (key > kmax) return k;
  if (g.mask) k.keep = __ldg(g.mask + key);
  // 32-bit division: a 64-bit one is a call, whose calling convention costs the key loop
  // registers it lacks (run_flash_mma takes paged work only while positions fit 31 bits).
  if (g.table) k.block = __ldg(g.table + static_cast<uint32_t>(key) / static_cast<uint32_t>(a.block_size));
  return k;
}

// Writes the tile's key rows (-1 past kmax or for a masked key) and a bit per key that is set
// unless the key is within kmax and masked. Threads below kBN (whole warps), lookups of keys
// kb + tid.
template <int kBN>
__device__ __forceinline__ void finish_key_lookup(const KeyLookup& k, const Range& g, const AttnArgs& a, int64_t kmax,
                                                  int64_t* rows, uint32_t* usable) {
  const int tid = static_cast<int>(threadIdx.x);
  int64_t row = -1;
  if (k.key <= kmax && k.keep != 0.0f) {
    row = k.key;
    if (g.table) {
      const int64_t r = static_cast<int64_t>(k.block) * a.block_size +
                        static_cast<uint32_t>(k.key) % static_cast<uint32_t>(a.block_size);
      row = r >= 0 ? r : -1;  // a negative block id: the key is left out
    }
  }
  rows[tid] = row;
  const unsigned bits = __ballot_sync(kAllLanes, k.key > kmax || row >= 0);
  if ((tid & 31) == 0) usable[tid >> 5] = bits;
}

// ---------------------------------------------------------------- the kernel

template <int DC>
__global__ void __launch_bounds__(kMmaThreads, MmaCfg<DC>::kMinBlocks) flash_attention_mma_kernel(const AttnArgs a) {
  using C = MmaCfg<DC>;
  constexpr int kBN = C::kBN, kLd = C::kLd;
  extern __shared__ float4 smem4[];
  // Q [kQRows][kLd]; K and V [2][kBN][kLd] (double-buffered); key rows [3][kBN]; usable-key bits
  // [3][kMaskWords] (three slots: the tile being computed, the next one, the one after).
  uint16_t* const q_tile = reinterpret_cast<uint16_t*>(smem4);
  uint16_t* const k_tiles = q_tile + C::kQElems;
  uint16_t* const v_tiles = k_tiles + 2 * C::kTileElems;
  int64_t* const key_rows = reinterpret_cast<int64_t*>(v_tiles + 2 * C::kTileElems);
  uint32_t* const key_usable = reinterpret_cast<uint32_t*>(key_rows + 3 * kBN);
  // The work item's range, read from here in the key loop rather than held in registers.
  __shared__ Range range;

  const int tid = static_cast<int>(threadIdx.x), warp = tid >> 5, lane = tid & 31;
  const int group = lane >> 2, tig = lane & 3;  // PTX's groupID and threadID_in_group
  const int warp_row0 = warp * kRowsPerWarp;

  // This lane's ldmatrix addresses (attention_mma_layout.h), as shared-state byte addresses.
  const ml::RowCol qa = ml::q_lane_address(lane), ka = ml::k_lane_address(lane), va = ml::v_lane_address(lane);
  const uint32_t q_lane = smem_address(q_tile + (warp_row0 + qa.row) * kLd + qa.col);
  const uint32_t k_lane = smem_address(k_tiles + ka.row * kLd + ka.col);
  const uint32_t v_lane = smem_address(v_tiles + va.row * kLd + va.col);
  constexpr uint32_t kB16 = 2;  // bytes of a bf16
  constexpr uint32_t kTileBytes = static_cast<uint32_t>(C::kTileElems) * kB16;

  const float log2_scale = a.scale * 1.4426950408889634f;  // scores in the log2 domain
  const int64_t items = a.nslots * a.Hq;
  for (int64_t w = blockIdx.x; w < items; w += gridDim.x) {
    // Heads of one tile are neighbours (GQA groups share K/V in L2); the last tiles, which see
    // the most keys under a causal mask, go first.
    const int64_t slot = a.nslots - 1 - w / a.Hq, h = w % a.Hq;
    int64_t i0 = 0;
    const Range g = tile_range(a, slot, h, kQRows, i0);
    if (g.fill < 0 || i0 >= g.nrows) continue;
    const int nr = static_cast<int>(imin(kQRows, g.nrows - i0));
    float* const out = a.out + ((g.row0 + i0) * a.Hq + h) * a.D;  // tile row r at + r * Hq * D
    if (g.fill > 0) {
      const float val = g.fill == 1 ? 0.0f : quiet_nan();
      for (int64_t e = tid; e < nr * a.D; e += kMmaThreads) out[e / a.D * a.Hq * a.D + e % a.D] = val;
      continue;
    }

    // Keys any row of the tile sees (the bounds grow with the position), in tiles of kBN.
    const int64_t pos0 = i0 + g.off;  // position of tile row 0
    int64_t kmin, kmax, unused;
    key_bounds(g, pos0, kmin, unused);
    key_bounds(g, pos0 + nr - 1, unused, kmax);
    const int ntiles = kmax >= kmin ? static_cast<int>((kmax - kmin) / kBN + 1) : 0;

    // Key bounds relative to kmin (int: a sequence has fewer than 2^31 keys) of this thread's two
    // rows (warp_row0 + group and + 8) and of the warp's first and last rows. A row past nr sees
    // nothing; its scores are never written out.
    int row_lo[2], row_hi[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = warp_row0 + group + 8 * half;
      int64_t lo = 1, hi = 0;
      if (r < nr) key_bounds(g, pos0 + r, lo, hi);
      row_lo[half] = static_cast<int>(r < nr ? lo - kmin : 1);
      row_hi[half] = static_cast<int>(r < nr ? hi - kmin : 0);
    }
    const int warp_rows = static_cast<int>(imax(0, imin(kRowsPerWarp, nr - warp_row0)));
    int first_lo = 1, first_hi = 0, last_lo = 1, last_hi = 0;  // empty for a warp without rows
    if (warp_rows > 0) {
      int64_t lo, hi;
      key_bounds(g, pos0 + warp_row0, lo, hi);
      first_lo = static_cast<int>(lo - kmin), first_hi = static_cast<int>(hi - kmin);
      key_bounds(g, pos0 + warp_row0 + warp_rows - 1, lo, hi);
      last_lo = static_cast<int>(lo - kmin), last_hi = static_cast<int>(hi - kmin);
    }

    __syncthreads();  // the previous work item is done with shared memory
    if (tid == 0) range = g;
    {
      StagedRows<kQRows, DC> q_rows;
      q_rows.load(
          g.q + i0 * a.q_row, a.q_row, [nr](int r) -> int64_t { return r < nr ? r : -1; }, a.D, a.vec);
      q_rows.store(q_tile);
    }
    if (tid < kBN) {
      for (int j = 0; j < 2 && j < ntiles; ++j)
        finish_key_lookup<kBN>(start_key_lookup(g, a, kmin + int64_t{j} * kBN + tid, kmax), g, a, kmax,
                               key_rows + j * kBN, key_usable + j * C::kMaskWords);
    }
    __syncthreads();  // Q and the first two tiles' key rows are in shared memory
    if (ntiles > 0) {
      StagedRows<kBN, DC> kv;
      const int64_t* rows0 = key_rows;
      kv.load(
          g.k, a.k_row, [rows0](int r) { return rows0[r]; }, a.D, a.vec);
      kv.store(k_tiles);
      kv.load(
          g.v, a.v_row, [rows0](int r) { return rows0[r]; }, a.D, a.vec);
      kv.store(v_tiles);
    }
    // Q's A fragments stay in registers for the whole key loop.
    uint32_t q_frag[C::kKD][4];
#pragma unroll
    for (int kk = 0; kk < C::kKD; ++kk) ldmatrix_x4(q_frag[kk], q_lane + kk * 16 * kB16);
    __syncthreads();  // K and V of tile 0 are in shared memory

    float o[C::kND][4];
#pragma unroll
    for (int nd = 0; nd < C::kND; ++nd) o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.0f;
    float m[2] = {ml::neg_infinity(), ml::neg_infinity()};
    float l[2] = {0.0f, 0.0f};  // this thread's part of each row's sum (its quad adds them at the end)

#pragma unroll 1
    for (int j = 0; j < ntiles; ++j) {
      const int kb = j * kBN;  // first key of the tile, relative to kmin
      const int buf = j & 1;
      const bool has_next = j + 1 < ntiles;
      const int64_t* const next_rows = key_rows + (j + 1) % 3 * kBN;
      StagedRows<kBN, DC> next;
      if (has_next)
        next.load(
            range.k, a.k_row, [next_rows](int r) { return next_rows[r]; }, a.D, a.vec);
      // The key rows of tile j + 2 (its slot was last read for tile j - 1, before the last barrier).
      const bool lookup = j + 2 < ntiles && tid < kBN;
      KeyLookup look;
      if (lookup) look = start_key_lookup(range, a, kmin + kb + 2 * kBN + tid, kmax);

      // Does this warp see the tile at all, and does every one of its rows see every key of it?
      const uint32_t* const usable_words = key_usable + j % 3 * C::kMaskWords;
      const uint64_t usable =
          C::kMaskWords == 2 ? (uint64_t{usable_words[1]} << 32 | usable_words[0]) : uint64_t{usable_words[0]};
      constexpr uint64_t kAllKeys = kBN == 64 ? ~uint64_t{0} : (uint64_t{1} << kBN) - 1;
      const bool active = warp_rows > 0 && kb <= last_hi && kb + kBN - 1 >= first_lo;
      const bool partial = kb < last_lo || kb + kBN - 1 > first_hi || usable != kAllKeys;

      float s[C::kNB][4];
      if (active) {
#pragma unroll
        for (int nb = 0; nb < C::kNB; ++nb) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
        const uint32_t k_base = k_lane + buf * kTileBytes;
#pragma unroll
        for (int kk = 0; kk < C::kKD; ++kk) {
#pragma unroll
          for (int nb = 0; nb < C::kNB; nb += 2) {
            uint32_t b[4];
            ldmatrix_x4(b, k_base + (8 * nb * kLd + 16 * kk) * kB16);
            mma_bf16(s[nb], q_frag[kk], b[0], b[1]);
            mma_bf16(s[nb + 1], q_frag[kk], b[2], b[3]);
          }
        }
      }
      if (has_next) {
        next.store(k_tiles + (buf ^ 1) * C::kTileElems);  // read by the other buffer's last S, before the barrier
        next.load(
            range.v, a.v_row, [next_rows](int r) { return next_rows[r]; }, a.D, a.vec);
      }

      if (active) {
        // Scores to the log2 domain; -inf where the row does not see the key. Element i of n-block
        // nb is row group + 8 (i >> 1) of the warp, key 8 nb + 2 tig + (i & 1) of the tile.
        float tile_max[2] = {ml::neg_infinity(), ml::neg_infinity()};
#pragma unroll
        for (int nb = 0; nb < C::kNB; ++nb) {
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            float x = s[nb][i] * log2_scale;
            if (partial) {
              const int c = 8 * nb + 2 * tig + (i & 1), key = kb + c, half = i >> 1;
              const bool sees = key >= row_lo[half] && key <= row_hi[half] && ((usable >> c) & 1u);
              x = sees ? x : ml::neg_infinity();
            }
            s[nb][i] = x;
            tile_max[i >> 1] = fmaxf(tile_max[i >> 1], x);
          }
        }
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          // A row's scores are spread over the 4 lanes of its quad (PTX: c_elem).
          float mx = tile_max[half];
          mx = fmaxf(mx, __shfl_xor_sync(kAllLanes, mx, 1));
          mx = fmaxf(mx, __shfl_xor_sync(kAllLanes, mx, 2));
          const ml::SoftmaxStep step = ml::softmax_step(m[half], mx);
          float sum = 0.0f;
#pragma unroll
          for (int nb = 0; nb < C::kNB; ++nb) {
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              const float p = ml::softmax_weight(s[nb][2 * half + e], step);
              s[nb][2 * half + e] = p;
              sum += p;
            }
          }
          l[half] = l[half] * step.alpha + sum;
          m[half] = step.m;
#pragma unroll
          for (int nd = 0; nd < C::kND; ++nd) {
            o[nd][2 * half] *= step.alpha;
            o[nd][2 * half + 1] *= step.alpha;
          }
        }
        // O += P V: P's A fragments from the score registers (rounded to bf16), V's B fragments
        // with ldmatrix.trans.
        const uint32_t v_base = v_lane + buf * kTileBytes;
#pragma unroll
        for (int kk = 0; kk < C::kKK; ++kk) {
          uint32_t p_frag[4];
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const ml::RowCol src = ml::p_source(r);
            p_frag[r] = pack_bf16x2(s[2 * kk + src.row][src.col], s[2 * kk + src.row][src.col + 1]);
          }
#pragma unroll
          for (int nd = 0; nd < C::kND; nd += 2) {
            uint32_t b[4];
            ldmatrix_x4_trans(b, v_base + (16 * kk * kLd + 8 * nd) * kB16);
            mma_bf16(o[nd], p_frag, b[0], b[1]);
            mma_bf16(o[nd + 1], p_frag, b[2], b[3]);
          }
        }
      }
      if (has_next) next.store(v_tiles + (buf ^ 1) * C::kTileElems);
      if (lookup)
        finish_key_lookup<kBN>(look, range, a, kmax, key_rows + (j + 2) % 3 * kBN,
                               key_usable + (j + 2) % 3 * C::kMaskWords);
      __syncthreads();  // tile j + 1 is in the other buffers; everyone is done with this one
    }

    // out = O / l (a row that saw no key: 0). Element i of n-block nd is row group + 8 (i >> 1),
    // dims 8 nd + 2 tig + (i & 1).
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float sum = l[half];
      sum += __shfl_xor_sync(kAllLanes, sum, 1);
      sum += __shfl_xor_sync(kAllLanes, sum, 2);
      const int r = warp_row0 + group + 8 * half;
      if (r >= nr) continue;
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
      float* const orow = out + static_cast<int64_t>(r) * a.Hq * a.D;
#pragma unroll
      for (int nd = 0; nd < C::kND; ++nd) {
        const int d = 8 * nd + 2 * tig;
        if (d >= a.D) continue;
        const float x0 = o[nd][2 * half] * inv, x1 = o[nd][2 * half + 1] * inv;
        if (a.vec) {
          *reinterpret_cast<float2*>(orow + d) = make_float2(x0, x1);  // D % 4 == 0, out 16-byte aligned
        } else {
          orow[d] = x0;
          if (d + 1 < a.D) orow[d + 1] = x1;
        }
      }
    }
  }
}

template <int DC>
void launch_mma(AttnArgs a, cudaStream_t stream) {
  a.nslots = flash_slots(a, kQRows);
  const int64_t blocks = a.nslots * a.Hq;
  if (blocks <= 0) return;
  static std::atomic<uint64_t> done{0};
  allow_smem(flash_attention_mma_kernel<DC>, MmaCfg<DC>::kSmemBytes, done);
  flash_attention_mma_kernel<DC><<<grid_of(blocks), kMmaThreads, MmaCfg<DC>::kSmemBytes, stream>>>(a);
}

}  // namespace

bool run_flash_mma(AttnArgs a, int dc, cudaStream_t stream) {
  // tile_key_row's 32-bit positions.
  if (a.mode == Mode::Paged &&
      (a.block_size >= (int64_t{1} << 31) || a.max_blocks >= (int64_t{1} << 31) / a.block_size))
    return false;
  switch (dc) {
    case 32: launch_mma<32>(a, stream); return true;
    case 64: launch_mma<64>(a, stream); return true;
    case 80: launch_mma<80>(a, stream); return true;
    case 96: launch_mma<96>(a, stream); return true;
    case 128: launch_mma<128>(a, stream); return true;
    default: return false;
  }
}

}  // namespace ia::cuda::attention
