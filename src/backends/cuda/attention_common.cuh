#pragma once
// What the attention kernels share (attention_kernels.cu: the f32 flash, any-D and decode
// kernels; attention_mma_kernels.cu: the tensor-core flash kernel): the launch arguments of the
// multi-row kernels and the device helpers that turn a work item into its query rows and keys,
// so both flash kernels give every row the same keys, zeros and NaNs.
#include <atomic>
#include <cstdint>

#include <cuda_runtime.h>

namespace ia::cuda::attention {

__host__ __device__ __forceinline__ int64_t imin(int64_t a, int64_t b) {
  return a < b ? a : b;
}
__host__ __device__ __forceinline__ int64_t imax(int64_t a, int64_t b) {
  return a > b ? a : b;
}

__device__ __forceinline__ float neg_inf() {
  return __uint_as_float(0xff800000u);
}
__device__ __forceinline__ float quiet_nan() {
  return __uint_as_float(0x7fc00000u);
}

// query_start, i32 or i64.
struct Starts {
  const void* p = nullptr;
  bool i64 = false;
  __device__ __forceinline__ int64_t operator[](int64_t i) const {
    return i64 ? static_cast<const int64_t*>(p)[i] : static_cast<int64_t>(static_cast<const int32_t*>(p)[i]);
  }
};

// The sequence that owns row t (qs[s] <= t < qs[s+1]), or -1 for a row before the first or after
// the last sequence. Empty sequences own nothing: the last s with qs[s] <= t is the owner.
__device__ __forceinline__ int64_t find_seq(const Starts& qs, int64_t S, int64_t t) {
  if (S <= 0 || qs[0] > t) return -1;
  int64_t lo = 0, hi = S;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (qs[mid] <= t) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo == S ? -1 : lo;
}

// Cache row of position pos of a sequence (block table row `table`), or -1 for a negative block
// id (such a key is left out rather than read out of bounds).
__device__ __forceinline__ int64_t cache_row(const int32_t* table, int64_t block_size, int64_t pos) {
  const int64_t r = static_cast<int64_t>(table[pos / block_size]) * block_size + pos % block_size;
  return r >= 0 ? r : -1;
}

// ------------------------------------------------------------------ the work of the multi-row kernels

// Cross: packed query rows (as Varlen) against the key range kv_ranges[s] of each sequence.
enum class Mode : int { Dense, Varlen, Paged, Cross };

struct AttnArgs {
  Mode mode = Mode::Dense;
  const float* q = nullptr;
  int64_t q_row = 0, q_head = 0, q_batch = 0;
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t k_row = 0, k_head = 0, v_row = 0, v_head = 0, kv_batch = 0;
  const float* key_mask = nullptr;  // dense: [B, Sk], 0 = padding
  float* out = nullptr;
  int64_t B = 0, Sq = 0, Sk = 0;  // dense
  Starts qs;                      // varlen / paged: [S + 1]
  int64_t S = 0;
  const int32_t* block_tables = nullptr;  // paged
  int64_t max_blocks = 0, block_size = 1;
  const int32_t* seq_lens = nullptr;
  int64_t T = 0, Hq = 0, Hkv = 0, D = 0;
  float scale = 1.0f;
  bool causal = false;
  int64_t window = 0;
  bool bf16 = false;
  // A relative position bias [Hq, 2W + 1] (kernels.h launch_varlen_attention), or null.
  const float* pos_bias = nullptr;
  int64_t pos_bias_w = 0;
  const int32_t* kv_ranges = nullptr;  // cross: [S, 2]
  bool vec = false;                    // 16-byte loads and stores: D % 4 == 0, pointers and strides aligned
  int64_t min_rows = 0;                // paged: sequences of at most this many rows are the decode kernel's
  int64_t nslots = 0;                  // flash: query tiles (times Hq = work items)
};

// A run of query rows (of one batch entry or sequence) and the keys they see: row i (from 0) is
// at position i + off and sees keys lo(i) .. hi(i) of 0 .. nkeys - 1 (key_bounds).
// Trivially constructible, for a __shared__ copy; make one with no_range().
struct Range {
  int fill;             // 0 attend; 1 zeros (rows no sequence owns); 2 NaN (inconsistent sequence); -1 not ours
  int64_t row0, nrows;  // rows row0 .. row0 + nrows - 1 of q and out
  const float* q;       // row row0, head h
  const float* k;       // key row r of kv head hk at k + r * k_row
  const float* v;
  const int32_t* table;  // paged: key p in cache row cache_row(table, block_size, p)
  const float* mask;     // dense
  const float* bias;     // position bias of head h, centred: key j of the row at position p adds
                         // bias[clamp(j - p, -bias_w, bias_w)]; null: none
  int64_t nkeys, off, window, bias_w;
  bool causal;
};

// The scaled score of key `key` for the row at position `pos`, with the range's position bias.
__device__ __forceinline__ float biased_score(const Range& g, float scaled, int64_t key, int64_t pos) {
  return g.bias ? scaled + g.bias[imin(imax(key - pos, -g.bias_w), g.bias_w)] : scaled;
}

__device__ __forceinline__ Range no_range() {
  Range g{};
  g.fill = -1;
  return g;
}

__device__ __forceinline__ void key_bounds(const Range& g, int64_t pos, int64_t& lo, int64_t& hi) {
  hi = g.causal ? imin(pos, g.nkeys - 1) : g.nkeys - 1;
  lo = g.causal && g.window > 0 ? imax(0, pos - g.window + 1) : 0;
}

// Key row index of key `key` (in range and not masked), or -1.
__device__ __forceinline__ int64_t key_row(const Range& g, const AttnArgs& a, int64_t key) {
  if (g.mask && g.mask[key] == 0.0f) return -1;
  return g.table ? cache_row(g.table, a.block_size, key) : key;
}

__device__ __forceinline__ Range dense_range(const AttnArgs& a, int64_t b, int64_t h) {
  Range g = no_range();
  g.fill = 0;
  g.row0 = b * a.Sq;
  g.nrows = a.Sq;
  g.q = a.q + b * a.q_batch + h * a.q_head;
  g.k = a.k + b * a.kv_batch + h * a.k_head;
  g.v = a.v + b * a.kv_batch + h * a.v_head;
  g.mask = a.key_mask ? a.key_mask + b * a.Sk : nullptr;
  g.nkeys = a.Sk;
  g.off = a.Sk - a.Sq;  // the last query sees the last key
  g.causal = a.causal;
  return g;
}

// Start of range r of the packed rows: r = 0 is the rows before the first sequence, r = s + 1
// sequence s, r = S + 1 the rows after the last one; r = S + 2 ends them.
__device__ __forceinline__ int64_t range_start(const AttnArgs& a, int64_t r) {
  return r == 0 ? 0 : r <= a.S + 1 ? a.qs[r - 1] : a.T;
}

__device__ __forceinline__ Range seq_range(const AttnArgs& a, int64_t r, int64_t h) {
  Range g = no_range();
  const int64_t b = range_start(a, r), e = range_start(a, r + 1);
  if (b < 0 || e < b || e > a.T) return g;  // not ascending: nothing safe to do
  g.row0 = b;
  g.nrows = e - b;
  g.q = a.q + b * a.q_row + h * a.q_head;
  if (r == 0 || r == a.S + 1) {
    g.fill = 1;
    return g;
  }
  const int64_t hk = h / (a.Hq / a.Hkv);
  if (a.pos_bias) {
    g.bias = a.pos_bias + h * (2 * a.pos_bias_w + 1) + a.pos_bias_w;
    g.bias_w = a.pos_bias_w;
  }
  if (a.mode == Mode::Varlen) {
    g.fill = 0;
    g.k = a.k + b * a.k_row + hk * a.k_head;
    g.v = a.v + b * a.v_row + hk * a.v_head;
    g.nkeys = g.nrows;
    g.causal = a.causal;
    g.window = a.window;
    return g;
  }
  const int64_t s = r - 1;
  if (a.mode == Mode::Cross) {
    // Every key of the sequence's range (checked by the backend before the launch).
    const int64_t k0 = a.kv_ranges[2 * s], k1 = a.kv_ranges[2 * s + 1];
    g.fill = 0;
    g.k = a.k + k0 * a.k_row + hk * a.k_head;
    g.v = a.v + k0 * a.v_row + hk * a.v_head;
    g.nkeys = imax(k1 - k0, 0);
    g.causal = false;
    return g;
  }
  if (g.nrows <= a.min_rows) return g;
  const int64_t len = a.seq_lens[s];
  // The new rows are the sequence's last positions; the CPU raises on these, here they are NaN.
  g.fill = g.nrows > len || len > a.max_blocks * a.block_size ? 2 : 0;
  g.k = a.k + hk * a.k_head;
  g.v = a.v + hk * a.v_head;
  g.table = a.block_tables + s * a.max_blocks;
  g.nkeys = len;
  g.off = len - g.nrows;
  g.causal = true;
  g.window = a.window;
  return g;
}

// The range and the first row (i0) of flash work item `slot` for q head h, with kBM query rows
// per tile, as run_flash and run_flash_mma lay the slots out. Dense: slot = batch entry * tiles
// + tile. Packed: range r holds slots c(r) .. c(r) + ceil(rows / kBM) - 1 with c(r) =
// floor(start(r) / kBM) + r, which increases with r, so the slot's range is the last r with
// c(r) <= slot (T / kBM + S + 2 slots bound them; surplus slots land past their range's rows, and
// the caller skips a tile with i0 >= nrows).
__device__ __forceinline__ Range tile_range(const AttnArgs& a, int64_t slot, int64_t h, int64_t kBM, int64_t& i0) {
  if (a.mode == Mode::Dense) {
    const int64_t tiles = (a.Sq + kBM - 1) / kBM;
    i0 = slot % tiles * kBM;
    return dense_range(a, slot / tiles, h);
  }
  int64_t lo = 0, hi = a.S + 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (range_start(a, mid) / kBM + mid <= slot) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  i0 = (slot - (range_start(a, lo) / kBM + lo)) * kBM;
  return seq_range(a, lo, h);
}

// Work slots of a launch with kBM query rows per tile (times Hq = work items).
__host__ __device__ __forceinline__ int64_t flash_slots(const AttnArgs& a, int64_t kBM) {
  return a.mode == Mode::Dense ? a.B * ((a.Sq + kBM - 1) / kBM) : a.T / kBM + a.S + 2;
}

// ------------------------------------------------------------------ host side

inline unsigned grid_of(int64_t blocks) {
  return static_cast<unsigned>(imin(blocks, 0x7fffffff));
}

// Opts a kernel into more than 48 KiB of dynamic shared memory, once per device. A failure
// stays in cudaGetLastError for the caller, and the launch then fails too.
template <class Kernel>
inline void allow_smem(Kernel kernel, size_t bytes, std::atomic<uint64_t>& done) {
  if (bytes <= 48 * 1024) return;
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return;
  const uint64_t bit = dev >= 0 && dev < 64 ? uint64_t{1} << dev : 0;
  if (bit && (done.load(std::memory_order_relaxed) & bit)) return;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)) == cudaSuccess)
    done.fetch_or(bit, std::memory_order_relaxed);
}

// attention_mma_kernels.cu: runs the multi-row work of `a` (its mode, bf16 products) on the
// tensor-core kernel and returns true, or returns false without launching anything when that
// kernel does not take it (dc, the padded head dim, above 128).
bool run_flash_mma(AttnArgs a, int dc, cudaStream_t stream);

}  // namespace ia::cuda::attention
