// Row reductions over the last dim (layer norm, RMS norm, softmax, L2 normalisation, argmax) and
// token pooling. A row belongs to one warp (short rows; four rows per block) or one block of up to
// 1024 threads; a thread keeps its share of the row in registers between the passes (rows up to
// 16384 floats), or, for longer rows, reads it again (from L2) on each pass. Sums in f32 as torch
// does (layer norm's in f64, see there): each thread sums its few elements in order, then a
// shuffle tree.
#include <type_traits>

#include "backends/cuda/kernel_common.cuh"
#include "backends/cuda/kernels.h"

namespace ia::cuda {
namespace {

// ------------------------------------------------------------------ row plumbing

// Elements [j*V, j*V + V) of p (V = 4: one 16-byte load; p + 4j must be 16-byte aligned).
template <int V>
__device__ __forceinline__ void load_v(const float* p, int64_t j, float (&v)[V]) {
  if constexpr (V == 4) {
    const float4 f = load_f4(p + j * 4);
    v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
  } else {
    v[0] = p[j];
  }
}

// As load_v where the pointer's alignment is only known at run time (weights, bias): `vec`
// says p is 16-byte aligned.
template <int V>
__device__ __forceinline__ void load_v(const float* p, int64_t j, float (&v)[V], bool vec) {
  if (V == 1 || vec) {
    load_v<V>(p, j, v);
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] = p[j * V + k];
  }
}

// Stores elements [j*V, j*V + V) of a row as f32 or bf16; `vec`: the row is aligned for one
// 16-byte (f32) or 8-byte (bf16) store.
template <int V>
__device__ __forceinline__ void store_v(void* row, bool bf16, int64_t j, const float (&y)[V], bool vec) {
  if (bf16) {
    uint16_t* o = static_cast<uint16_t*>(row) + j * V;
    if constexpr (V == 4) {
      if (vec) {
        store_bf16x4(o, y[0], y[1], y[2], y[3]);
        return;
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) o[k] = f32_to_bf16_bits(y[k]);
  } else {
    float* o = static_cast<float*>(row) + j * V;
    if constexpr (V == 4) {
      if (vec) {
        store_f4(o, make_float4(y[0], y[1], y[2], y[3]));
        return;
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) o[k] = y[k];
  }
}

// A thread's share of one row: vectors j = tid, tid + tpr, ... (consecutive threads read
// consecutive vectors, so every pass coalesces). kItems > 0: the share (at most kItems vectors)
// is held in registers, loaded once; kItems == 0: each pass reads the row again.
template <int V, int kItems>
struct RowShare {
  static constexpr bool kCached = kItems > 0;
  float v[kCached ? kItems : 1][V];

  __device__ __forceinline__ void load(const float* row, int64_t nvec, int tid, int tpr) {
    if constexpr (kCached) {
#pragma unroll
      for (int it = 0; it < kItems; ++it) {
        const int64_t j = tid + static_cast<int64_t>(it) * tpr;
        if (j < nvec) {
          load_v<V>(row, j, v[it]);
        } else {
#pragma unroll
          for (int k = 0; k < V; ++k) v[it][k] = 0.0f;
        }
      }
    }
  }

  // f(j, float (&)[V]) for each of the thread's vectors, in order. Cached: f may update the
  // registers for the next pass; streaming: f sees a fresh copy of the row's values.
  template <class F>
  __device__ __forceinline__ void each(const float* row, int64_t nvec, int tid, int tpr, F&& f) {
    if constexpr (kCached) {
#pragma unroll
      for (int it = 0; it < kItems; ++it) {
        const int64_t j = tid + static_cast<int64_t>(it) * tpr;
        if (j < nvec) f(j, v[it]);
      }
    } else {
      for (int64_t j = tid; j < nvec; j += tpr) {
        float t[V];
        load_v<V>(row, j, t);
        f(j, t);
      }
    }
  }
};

// How a row kernel is launched: vec (V = 4: 16-byte loads of x), threads per row (a power of two
// from 32 to 1024), rows per block (4 one-warp rows, or 1), and the register share (1, 2, 4 or,
// for V = 1, 8 vectors; 0: streaming). Cached rows: up to 16384 floats with V = 4, 8192 with
// V = 1. With many rows each thread takes about 4 vectors (loads in flight per thread, blocks
// small enough to fill the SMs); with few (decode) the row is spread over more threads, since
// one row's latency is then the whole op's.
struct RowPlan {
  int vec;
  int tpr;
  int rpb;
  int items;
};

RowPlan plan_rows(int64_t rows, int64_t H, bool vec_ok) {
  RowPlan p;
  p.vec = vec_ok ? 4 : 1;
  const int64_t nvec = H / p.vec;
  const int64_t per_thread = rows < 256 ? 1 : 4;
  p.tpr = 32;
  while (p.tpr < 1024 && p.tpr * per_thread < nvec) p.tpr *= 2;
  p.rpb = p.tpr == 32 ? 4 : 1;
  // At most 16 cached floats a thread: at 1024 threads a thread has 64 registers, and the
  // layer norm's last pass with 32 cached floats spilled.
  const int64_t per = ceil_div(nvec, p.tpr);
  const int max_items = 16 / p.vec;
  p.items = per <= 1 ? 1 : per <= 2 ? 2 : per <= 4 ? 4 : per <= 8 ? 8 : 0;
  if (p.items > max_items) p.items = 0;
  return p;
}

template <int N>
using IntTag = std::integral_constant<int, N>;

// f(IntTag<V>, IntTag<kItems>) for the plan; the launch's grid and block.
template <class F>
void with_row_plan(const RowPlan& p, F&& f) {
  auto items = [&](auto v) {
    switch (p.items) {
      case 1: f(v, IntTag<1>{}); break;
      case 2: f(v, IntTag<2>{}); break;
      case 4: f(v, IntTag<4>{}); break;
      case 8:
        if constexpr (decltype(v)::value * 8 <= 16) f(v, IntTag<8>{});
        break;
      default: f(v, IntTag<0>{}); break;
    }
  };
  if (p.vec == 4) {
    items(IntTag<4>{});
  } else {
    items(IntTag<1>{});
  }
}

dim3 row_block(const RowPlan& p) {
  return dim3(static_cast<unsigned>(p.tpr), static_cast<unsigned>(p.rpb), 1);
}
dim3 row_grid(const RowPlan& p, int64_t rows) {
  return dim3(static_cast<unsigned>(clamp_grid(ceil_div(rows, p.rpb), kMaxGridX)), 1, 1);
}

// The rows of this thread's row group: with one-warp rows the warps of a block take different
// rows (and only shuffle); with block rows (blockDim.y == 1) the loop is uniform over the block,
// as block_*_x's barriers need.
__device__ __forceinline__ int64_t first_row() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
}
__device__ __forceinline__ int64_t row_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.y;
}

// ------------------------------------------------------------------ layer norm

// Row kernels are bounded at (1024, 1): with the bound alone ptxas held some at 32 registers and
// spilled.
//
// vec_io: weight, bias and out are 16-byte aligned (V = 4 only). Mean and variance are summed in
// f64 (as the CPU's layer_norm): where x is close to the mean, the conformance test allows an
// error of 1e-7 |w|, which needs the mean to within about half an f32 ulp; an f32 sum of a row
// with mean 3 misses it by several ulps. The f64 adds cost nothing on a memory-bound pass.
template <int V, int kItems>
__global__ __launch_bounds__(1024, 1) void layer_norm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                                             const float* __restrict__ b, float eps,
                                                             float* __restrict__ out, int64_t rows, int64_t H,
                                                             double inv_h, bool vec_io) {
  __shared__ double scratch[32];
  const int64_t nvec = H / V;
  const int tid = threadIdx.x, tpr = blockDim.x;
  for (int64_t r = first_row(); r < rows; r += row_stride()) {
    const float* xr = x + r * H;
    RowShare<V, kItems> share;
    share.load(xr, nvec, tid, tpr);
    // Mean first, then the variance of (x - mean): stable for rows with a large mean.
    double s = 0.0;
    share.each(xr, nvec, tid, tpr, [&](int64_t, float(&v)[V]) {
#pragma unroll
      for (int k = 0; k < V; ++k) s += v[k];
    });
    const double mean_d = block_sum_x(s, scratch) * inv_h;
    double q = 0.0;
    share.each(xr, nvec, tid, tpr, [&](int64_t, float(&v)[V]) {
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const double d = v[k] - mean_d;
        q += d * d;
      }
    });
    // 1 / sqrt in f32 (correctly rounded each): f64 division and square root are subroutine
    // calls that spilled under the 64-register bound.
    const float var = static_cast<float>(block_sum_x(q, scratch) * inv_h);
    const float rstd = 1.0f / sqrtf(var + eps);
    const float mean = static_cast<float>(mean_d);
    float* orow = out + r * H;
    share.each(xr, nvec, tid, tpr, [&](int64_t j, float(&v)[V]) {
      float wv[V], y[V];
      load_v<V>(w, j, wv, vec_io);
      if (b) {
        float bv[V];
        load_v<V>(b, j, bv, vec_io);
#pragma unroll
        for (int k = 0; k < V; ++k) y[k] = (v[k] - mean) * rstd * wv[k] + bv[k];
      } else {
#pragma unroll
        for (int k = 0; k < V; ++k) y[k] = (v[k] - mean) * rstd * wv[k];
      }
      store_v<V>(orow, false, j, y, vec_io);
    });
  }
}

// ------------------------------------------------------------------ RMS norm

// One kernel for both output types, so the bf16 output is exactly the f32 output rounded.
template <int V, int kItems>
__global__ __launch_bounds__(1024, 1) void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                                           float eps, void* __restrict__ out, bool out_bf16,
                                                           int64_t rows, int64_t H, bool vec_io) {
  __shared__ float scratch[32];
  const int64_t nvec = H / V;
  const int tid = threadIdx.x, tpr = blockDim.x;
  for (int64_t r = first_row(); r < rows; r += row_stride()) {
    const float* xr = x + r * H;
    RowShare<V, kItems> share;
    share.load(xr, nvec, tid, tpr);
    float s = 0.0f;
    share.each(xr, nvec, tid, tpr, [&](int64_t, float(&v)[V]) {
#pragma unroll
      for (int k = 0; k < V; ++k) s += v[k] * v[k];
    });
    const float inv = 1.0f / sqrtf(block_sum_x(s, scratch) / static_cast<float>(H) + eps);
    void* orow = out_bf16 ? static_cast<void*>(static_cast<uint16_t*>(out) + r * H)
                          : static_cast<void*>(static_cast<float*>(out) + r * H);
    share.each(xr, nvec, tid, tpr, [&](int64_t j, float(&v)[V]) {
      float wv[V], y[V];
      load_v<V>(w, j, wv, vec_io);
#pragma unroll
      for (int k = 0; k < V; ++k) y[k] = __fmul_rn(wv[k], __fmul_rn(v[k], inv));  // HF: weight * (x * inv)
      store_v<V>(orow, out_bf16, j, y, vec_io);
    });
  }
}

// ------------------------------------------------------------------ softmax

template <int V, int kItems>
__global__ __launch_bounds__(1024, 1) void softmax_kernel(const float* __restrict__ x, float* __restrict__ out,
                                                          int64_t rows, int64_t cols, bool vec_io) {
  __shared__ float scratch[32];
  constexpr bool kCached = kItems > 0;
  const int64_t nvec = cols / V;
  const int tid = threadIdx.x, tpr = blockDim.x;
  for (int64_t r = first_row(); r < rows; r += row_stride()) {
    const float* xr = x + r * cols;
    float* orow = out + r * cols;
    RowShare<V, kItems> share;
    share.load(xr, nvec, tid, tpr);
    float m = __uint_as_float(0xff800000u);  // -inf
    share.each(xr, nvec, tid, tpr, [&](int64_t, float(&v)[V]) {
#pragma unroll
      for (int k = 0; k < V; ++k) m = fmaxf(m, v[k]);
    });
    m = block_max_x(m, scratch);
    if (m == __uint_as_float(0xff800000u)) {
      // Every element -inf: zeros, as the CPU (the branch is uniform over the row group).
      share.each(xr, nvec, tid, tpr, [&](int64_t j, float(&)[V]) {
        float z[V];
#pragma unroll
        for (int k = 0; k < V; ++k) z[k] = 0.0f;
        store_v<V>(orow, false, j, z, vec_io);
      });
      continue;
    }
    float s = 0.0f;
    share.each(xr, nvec, tid, tpr, [&](int64_t, float(&v)[V]) {
#pragma unroll
      for (int k = 0; k < V; ++k) {
        v[k] = expf(v[k] - m);  // kept for the last pass when cached
        s += v[k];
      }
    });
    const float inv = 1.0f / block_sum_x(s, scratch);
    share.each(xr, nvec, tid, tpr, [&](int64_t j, float(&v)[V]) {
      float y[V];
#pragma unroll
      for (int k = 0; k < V; ++k) y[k] = (kCached ? v[k] : expf(v[k] - m)) * inv;
      store_v<V>(orow, false, j, y, vec_io);
    });
  }
}

// ------------------------------------------------------------------ L2 normalisation

template <int V, int kItems>
__global__ __launch_bounds__(1024, 1) void l2_normalize_kernel(const float* __restrict__ x, float eps,
                                                               float* __restrict__ out, int64_t rows, int64_t cols,
                                                               bool vec_io) {
  __shared__ float scratch[32];
  const int64_t nvec = cols / V;
  const int tid = threadIdx.x, tpr = blockDim.x;
  for (int64_t r = first_row(); r < rows; r += row_stride()) {
    const float* xr = x + r * cols;
    RowShare<V, kItems> share;
    share.load(xr, nvec, tid, tpr);
    float s = 0.0f;
    share.each(xr, nvec, tid, tpr, [&](int64_t, float(&v)[V]) {
#pragma unroll
      for (int k = 0; k < V; ++k) s += v[k] * v[k];
    });
    // As torch's F.normalize: x / max(||x||, eps), a true division.
    const float d = fmaxf(sqrtf(block_sum_x(s, scratch)), eps);
    float* orow = out + r * cols;
    share.each(xr, nvec, tid, tpr, [&](int64_t j, float(&v)[V]) {
      float y[V];
#pragma unroll
      for (int k = 0; k < V; ++k) y[k] = v[k] / d;
      store_v<V>(orow, false, j, y, vec_io);
    });
  }
}

// ------------------------------------------------------------------ pooling

// A block pools 32 consecutive hidden units of one batch row: x over h (coalesced), y over
// tokens (each thread takes every kPoolY-th token), then the kPoolY partials are added in a
// fixed order. Sums in f64, as pool_cpu.
constexpr int kPoolX = 32, kPoolY = 8;

__global__ __launch_bounds__(kPoolX* kPoolY) void pool_kernel(Pool mode, const float* __restrict__ x,
                                                              const float* __restrict__ mask, float* __restrict__ out,
                                                              int64_t B, int64_t S, int64_t H) {
  __shared__ double part[kPoolY][kPoolX];
  __shared__ double count[kPoolY];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t b = blockIdx.y; b < B; b += gridDim.y) {
    const float* xb = x + b * S * H;
    const float* mb = mask + b * S;
    for (int64_t h0 = static_cast<int64_t>(blockIdx.x) * kPoolX; h0 < H;
         h0 += static_cast<int64_t>(gridDim.x) * kPoolX) {
      const int64_t h = h0 + tx;
      const bool in = h < H;
      if (mode == Pool::Cls) {
        // Token 0 whatever the mask.
        if (ty == 0 && in) out[b * H + h] = xb[h];
        continue;
      }
      double acc = 0.0, cnt = 0.0;
      if (mode == Pool::Max) {
        // As sentence-transformers: padding tokens count as -1e9 (exact in f32, so an f32 max
        // gives pool_cpu's f64 max rounded).
        float m = __uint_as_float(0xff800000u);
        for (int64_t s = ty; s < S; s += kPoolY) m = fmaxf(m, mb[s] != 0.0f ? (in ? xb[s * H + h] : 0.0f) : -1e9f);
        acc = m;
      } else {
        for (int64_t s = ty; s < S; s += kPoolY) {
          const float w = mb[s];
          if (w == 0.0f) continue;
          cnt += w;
          if (in) acc += static_cast<double>(w) * xb[s * H + h];
        }
      }
      part[ty][tx] = acc;
      if (tx == 0) count[ty] = cnt;
      __syncthreads();
      if (ty == 0 && in) {
        double a = part[0][tx], c = count[0];
        for (int i = 1; i < kPoolY; ++i) {
          if (mode == Pool::Max) {
            a = fmax(a, part[i][tx]);
          } else {
            a += part[i][tx];
            c += count[i];
          }
        }
        if (mode != Pool::Max) {
          // sentence-transformers clamps the token count at 1e-9.
          const double n = fmax(c, 1e-9);
          a /= mode == Pool::Mean ? n : sqrt(n);
        }
        out[b * H + h] = static_cast<float>(a);
      }
      __syncthreads();  // before the next iteration overwrites the partials
    }
  }
}

}  // namespace

void launch_layer_norm(const float* x, const float* weight, const float* bias, float eps, float* out, int64_t rows,
                       int64_t H, cudaStream_t stream) {
  if (rows <= 0 || H <= 0) return;
  const RowPlan p = plan_rows(rows, H, H % 4 == 0 && aligned_to(x, 16));
  const bool vec_io = aligned_to(weight, 16) && (!bias || aligned_to(bias, 16)) && aligned_to(out, 16);
  with_row_plan(p, [&](auto v, auto items) {
    layer_norm_kernel<decltype(v)::value, decltype(items)::value><<<row_grid(p, rows), row_block(p), 0, stream>>>(
        x, weight, bias, eps, out, rows, H, 1.0 / static_cast<double>(H), vec_io);
  });
}

void launch_rms_norm(const float* x, const float* weight, float eps, void* out, bool out_bf16, int64_t rows, int64_t H,
                     cudaStream_t stream) {
  if (rows <= 0 || H <= 0) return;
  // The plan depends on x and its shape alone: the f32 and bf16 outputs of one x sum in the same
  // order.
  const RowPlan p = plan_rows(rows, H, H % 4 == 0 && aligned_to(x, 16));
  const bool vec_io = aligned_to(weight, 16) && aligned_to(out, out_bf16 ? 8 : 16);
  with_row_plan(p, [&](auto v, auto items) {
    rms_norm_kernel<decltype(v)::value, decltype(items)::value>
        <<<row_grid(p, rows), row_block(p), 0, stream>>>(x, weight, eps, out, out_bf16, rows, H, vec_io);
  });
}

void launch_softmax(const float* x, float* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const RowPlan p = plan_rows(rows, cols, cols % 4 == 0 && aligned_to(x, 16));
  const bool vec_io = aligned_to(out, 16);
  with_row_plan(p, [&](auto v, auto items) {
    softmax_kernel<decltype(v)::value, decltype(items)::value>
        <<<row_grid(p, rows), row_block(p), 0, stream>>>(x, out, rows, cols, vec_io);
  });
}

void launch_l2_normalize(const float* x, float eps, float* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const RowPlan p = plan_rows(rows, cols, cols % 4 == 0 && aligned_to(x, 16));
  const bool vec_io = aligned_to(out, 16);
  with_row_plan(p, [&](auto v, auto items) {
    l2_normalize_kernel<decltype(v)::value, decltype(items)::value>
        <<<row_grid(p, rows), row_block(p), 0, stream>>>(x, eps, out, rows, cols, vec_io);
  });
}

namespace {

// (value, index) as one 64-bit key whose unsigned order is the argmax order: the float's bits
// made monotonic in the high half, the complemented index in the low half (ties: first index).
__device__ __forceinline__ unsigned long long argmax_key(float v, int64_t i) {
  const unsigned b = __float_as_uint(v);
  const unsigned ordered = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return (static_cast<unsigned long long>(ordered) << 32) | static_cast<unsigned>(~static_cast<unsigned>(i));
}

struct MaxU64Op {
  __device__ __forceinline__ unsigned long long operator()(unsigned long long a, unsigned long long b) const {
    return a > b ? a : b;
  }
};

// One block per row: each thread keeps its best key over a strided share, then one block max.
__global__ __launch_bounds__(1024) void argmax_kernel(const float* __restrict__ x, int32_t* __restrict__ out,
                                                       int64_t rows, int64_t cols) {
  __shared__ unsigned long long scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    unsigned long long best = 0;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) best = MaxU64Op{}(best, argmax_key(xr[i], i));
    best = block_reduce_x(best, scratch, MaxU64Op{}, 0ull);
    if (threadIdx.x == 0) out[r] = static_cast<int32_t>(~static_cast<unsigned>(best & 0xffffffffull));
  }
}

// The k largest keys of each row, largest first: k rounds of the block max over the keys below
// the previous round's (keys are unique, so each round takes exactly one). A round re-reads the
// row from L2; k is small (a sampler's top-k), and only the k results leave the GPU.
__global__ __launch_bounds__(1024) void top_k_kernel(const float* __restrict__ x, float* __restrict__ values,
                                                      int32_t* __restrict__ ids, int64_t rows, int64_t cols, int k) {
  __shared__ unsigned long long scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    unsigned long long bound = 0;
    for (int j = 0; j < k; ++j) {
      unsigned long long best = 0;
      for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
        const unsigned long long key = argmax_key(xr[i], i);
        if (j == 0 || key < bound) best = MaxU64Op{}(best, key);
      }
      best = block_reduce_x(best, scratch, MaxU64Op{}, 0ull);
      if (threadIdx.x == 0) {
        const auto id = static_cast<int32_t>(~static_cast<unsigned>(best & 0xffffffffull));
        ids[r * k + j] = id;
        values[r * k + j] = xr[id];
      }
      bound = best;
    }
  }
}

}  // namespace

void launch_top_k(const float* x, float* values, int32_t* ids, int64_t rows, int64_t cols, int64_t k,
                  cudaStream_t stream) {
  if (rows <= 0 || cols <= 0 || k <= 0) return;
  const int threads = cols >= 1024 ? 1024 : static_cast<int>((cols + 31) / 32 * 32);
  top_k_kernel<<<static_cast<unsigned>(clamp_grid(rows, kMaxGridX)), threads, 0, stream>>>(x, values, ids, rows, cols,
                                                                                           static_cast<int>(k));
}

void launch_argmax(const float* x, int32_t* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const int threads = cols >= 1024 ? 1024 : static_cast<int>((cols + 31) / 32 * 32);
  argmax_kernel<<<static_cast<unsigned>(clamp_grid(rows, kMaxGridX)), threads, 0, stream>>>(x, out, rows, cols);
}

void launch_pool(Pool mode, const float* x, const float* mask, float* out, int64_t B, int64_t S, int64_t H,
                 cudaStream_t stream) {
  if (B <= 0 || S <= 0 || H <= 0) return;
  const dim3 grid(static_cast<unsigned>(clamp_grid(ceil_div(H, kPoolX), kMaxGridX)),
                  static_cast<unsigned>(clamp_grid(B, kMaxGridY)), 1);
  pool_kernel<<<grid, dim3(kPoolX, kPoolY, 1), 0, stream>>>(mode, x, mask, out, B, S, H);
}

}  // namespace ia::cuda
