// Data movement: strided gathers into contiguous memory, dtype casts, embedding lookups.
#include <type_traits>

#include "backends/cuda/kernel_common.cuh"
#include "backends/cuda/kernels.h"

namespace ia::cuda {
namespace {

// ------------------------------------------------------------------ gather

constexpr int kMaxDims = 8;  // 6 view dims, plus one when elements are split into bytes

// The dims above the innermost one (outermost first), after collapsing.
struct OuterDims {
  int n = 0;
  int64_t shape[kMaxDims - 1] = {};
  int64_t stride[kMaxDims - 1] = {};
};

// dst row r (contiguous, `cols` elements) = src elements at offset(r) + c * inner_stride. U is
// an unsigned type of the (possibly widened) element size.
template <class U>
__global__ void gather_kernel(const U* __restrict__ src, OuterDims outer, int64_t inner_stride, U* __restrict__ dst,
                              int64_t rows, int64_t cols) {
  for (int64_t r = grid_y0(); r < rows; r += grid_y_stride()) {
    // The row's source offset, innermost outer dim first. Unrolled with constant indices so the
    // by-value arrays stay in the parameter space (no local-memory copy).
    int64_t rem = r, off = 0;
#pragma unroll
    for (int i = kMaxDims - 2; i >= 0; --i) {
      if (i < outer.n) {
        if (i == 0) {
          off += rem * outer.stride[0];
        } else {
          const int64_t q = rem / outer.shape[i];
          off += (rem - q * outer.shape[i]) * outer.stride[i];
          rem = q;
        }
      }
    }
    const U* s = src + off;
    U* d = dst + r * cols;
    for (int64_t c = grid_x0(); c < cols; c += grid_x_stride()) d[c] = s[c * inner_stride];
  }
}

template <class U>
void launch_gather_typed(const void* src, const OuterDims& outer, int64_t inner_stride, void* dst, int64_t rows,
                         int64_t cols, cudaStream_t stream) {
  const Grid2d g = grid_2d(rows, cols);
  gather_kernel<U><<<g.grid, g.block, 0, stream>>>(static_cast<const U*>(src), outer, inner_stride,
                                                   static_cast<U*>(dst), rows, cols);
}

// ------------------------------------------------------------------ cast

template <ElemType E>
struct Elem;
template <>
struct Elem<ElemType::F32> {
  using T = float;
};
template <>
struct Elem<ElemType::F16> {
  using T = uint16_t;
};
template <>
struct Elem<ElemType::BF16> {
  using T = uint16_t;
};
template <>
struct Elem<ElemType::I64> {
  using T = int64_t;
};
template <>
struct Elem<ElemType::I32> {
  using T = int32_t;
};
template <>
struct Elem<ElemType::I16> {
  using T = int16_t;
};
template <>
struct Elem<ElemType::I8> {
  using T = int8_t;
};
template <>
struct Elem<ElemType::U8> {
  using T = uint8_t;
};
template <>
struct Elem<ElemType::Bool> {
  using T = uint8_t;
};
template <>
struct Elem<ElemType::F64> {
  using T = double;
};

__host__ __device__ constexpr bool is_float_type(ElemType e) {
  return e == ElemType::F32 || e == ElemType::F16 || e == ElemType::BF16 || e == ElemType::F64;
}

// Source element as float, for sources whose value a float holds exactly or whose route through
// double gives the same result (everything but i64 and f64).
template <ElemType S>
__device__ __forceinline__ float to_float(typename Elem<S>::T v) {
  if constexpr (S == ElemType::F16)
    return f16_bits_to_f32(v);
  else if constexpr (S == ElemType::BF16)
    return bf16_bits_to_f32(v);
  else if constexpr (S == ElemType::Bool)
    return v != 0 ? 1.0f : 0.0f;
  else
    return static_cast<float>(v);
}

template <ElemType S>
__device__ __forceinline__ double to_double(typename Elem<S>::T v) {
  if constexpr (S == ElemType::F16 || S == ElemType::BF16 || S == ElemType::Bool)
    return static_cast<double>(to_float<S>(v));  // exact
  else
    return static_cast<double>(v);  // f64, f32 and every integer type: exact or (i64) rounded once
}

template <ElemType D>
__device__ __forceinline__ typename Elem<D>::T from_float(float f) {
  using T = typename Elem<D>::T;
  if constexpr (D == ElemType::F16)
    return f32_to_f16_bits(f);
  else if constexpr (D == ElemType::BF16)
    return f32_to_bf16_bits(f);
  else if constexpr (D == ElemType::Bool)
    return f != 0.0f ? 1 : 0;  // NaN != 0: true
  else
    return static_cast<T>(f);  // ints truncate toward zero
}

template <ElemType D>
__device__ __forceinline__ typename Elem<D>::T from_double(double d) {
  using T = typename Elem<D>::T;
  if constexpr (D == ElemType::F64)
    return d;
  else if constexpr (D == ElemType::Bool)
    return d != 0.0 ? 1 : 0;
  else if constexpr (is_float_type(D))
    return from_float<D>(static_cast<float>(d));  // as store_scalar
  else
    return static_cast<T>(d);
}

template <ElemType S>
__device__ __forceinline__ int64_t to_int64(typename Elem<S>::T v) {
  if constexpr (S == ElemType::Bool)
    return v != 0 ? 1 : 0;
  else
    return static_cast<int64_t>(v);
}

template <ElemType D>
__device__ __forceinline__ typename Elem<D>::T from_int64(int64_t v) {
  if constexpr (D == ElemType::Bool)
    return v != 0 ? 1 : 0;
  else
    return static_cast<typename Elem<D>::T>(v);  // narrowing wraps modulo 2^bits
}

// The conversions of Tensor::to (core/tensor.cpp): same type copies the bits; integer to integer
// goes through int64 (wrapping); everything else through double (load_scalar / store_scalar),
// which this shortens to float where the result is the same: every source but i64 and f64 is
// exact in float and then rounds once, as it would from double.
template <ElemType S, ElemType D>
__device__ __forceinline__ typename Elem<D>::T convert(typename Elem<S>::T v) {
  if constexpr (S == D)
    return v;
  else if constexpr (!is_float_type(S) && !is_float_type(D))
    return from_int64<D>(to_int64<S>(v));
  else if constexpr (S == ElemType::I64 || S == ElemType::F64 || D == ElemType::F64)
    return from_double<D>(to_double<S>(v));
  else
    return from_float<D>(to_float<S>(v));
}

template <ElemType S, ElemType D>
__global__ void cast_kernel(const typename Elem<S>::T* __restrict__ x, typename Elem<D>::T* __restrict__ out,
                            int64_t n) {
  for (int64_t i = grid_x0(); i < n; i += grid_x_stride()) out[i] = convert<S, D>(x[i]);
}

template <ElemType E>
using ElemTag = std::integral_constant<ElemType, E>;

template <class F>
void with_elem_type(ElemType t, F&& f) {
  switch (t) {
    case ElemType::F32: f(ElemTag<ElemType::F32>{}); break;
    case ElemType::F16: f(ElemTag<ElemType::F16>{}); break;
    case ElemType::BF16: f(ElemTag<ElemType::BF16>{}); break;
    case ElemType::I64: f(ElemTag<ElemType::I64>{}); break;
    case ElemType::I32: f(ElemTag<ElemType::I32>{}); break;
    case ElemType::I16: f(ElemTag<ElemType::I16>{}); break;
    case ElemType::I8: f(ElemTag<ElemType::I8>{}); break;
    case ElemType::U8: f(ElemTag<ElemType::U8>{}); break;
    case ElemType::Bool: f(ElemTag<ElemType::Bool>{}); break;
    case ElemType::F64: f(ElemTag<ElemType::F64>{}); break;
  }
}

// ------------------------------------------------------------------ embedding

// Elements [i, i + V) of a table row as float (V = 4: i is a multiple of 4 and the table is
// aligned for one 16-byte f32 or 8-byte 16-bit load).
template <ElemType E, int V>
__device__ __forceinline__ void load_table(const void* table, int64_t i, float (&v)[V]) {
  if constexpr (E == ElemType::F32) {
    const float* p = static_cast<const float*>(table) + i;
    if constexpr (V == 4) {
      const float4 f = load_f4(p);
      v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
    } else {
      v[0] = *p;
    }
  } else {
    const uint16_t* p = static_cast<const uint16_t*>(table) + i;
    auto cvt = [](uint32_t bits) {
      const uint16_t h = static_cast<uint16_t>(bits);
      if constexpr (E == ElemType::BF16)
        return bf16_bits_to_f32(h);
      else
        return f16_bits_to_f32(h);
    };
    if constexpr (V == 4) {
      const uint2 u = *reinterpret_cast<const uint2*>(p);
      v[0] = cvt(u.x & 0xffffu), v[1] = cvt(u.x >> 16), v[2] = cvt(u.y & 0xffffu), v[3] = cvt(u.y >> 16);
    } else {
      v[0] = cvt(*p);
    }
  }
}

template <ElemType E, int V>
__global__ void embedding_kernel(const void* __restrict__ table, int64_t vocab, int64_t H, const void* __restrict__ ids,
                                 bool ids_i64, int64_t n_ids, float* __restrict__ out, int* bad) {
  const int64_t nvec = H / V;
  for (int64_t r = grid_y0(); r < n_ids; r += grid_y_stride()) {
    const int64_t id = ids_i64 ? static_cast<const int64_t*>(ids)[r] : static_cast<const int32_t*>(ids)[r];
    const bool ok = id >= 0 && id < vocab;
    if (!ok && grid_x0() == 0) *bad = 1;
    float* o = out + r * H;
    for (int64_t c = grid_x0(); c < nvec; c += grid_x_stride()) {
      float v[V];
      if (ok) {
        load_table<E, V>(table, id * H + c * V, v);
      } else {
#pragma unroll
        for (int k = 0; k < V; ++k) v[k] = __uint_as_float(0x7fc00000u);  // NaN
      }
      if constexpr (V == 4) {
        store_f4(o + c * 4, make_float4(v[0], v[1], v[2], v[3]));
      } else {
        o[c] = v[0];
      }
    }
  }
}

template <ElemType E>
void launch_embedding_typed(const void* table, int64_t vocab, int64_t H, const void* ids, bool ids_i64, int64_t n_ids,
                            float* out, int* bad, cudaStream_t stream) {
  constexpr uintptr_t kTableAlign = E == ElemType::F32 ? 16 : 8;
  const bool vec = H % 4 == 0 && aligned_to(table, kTableAlign) && aligned_to(out, 16);
  if (vec) {
    const Grid2d g = grid_2d(n_ids, H / 4);
    embedding_kernel<E, 4><<<g.grid, g.block, 0, stream>>>(table, vocab, H, ids, ids_i64, n_ids, out, bad);
  } else {
    const Grid2d g = grid_2d(n_ids, H);
    embedding_kernel<E, 1><<<g.grid, g.block, 0, stream>>>(table, vocab, H, ids, ids_i64, n_ids, out, bad);
  }
}

}  // namespace

void launch_gather_strided(const StridedView& src, int elem_bytes, void* dst, int64_t numel, cudaStream_t stream) {
  if (numel <= 0) return;
  // Dims in elements of `eb` bytes, outermost first; size-1 dims dropped, and a dim merged into
  // the next when the two step through memory as one (transposes and slices keep few dims).
  int64_t shape[kMaxDims] = {}, stride[kMaxDims] = {};
  int nd = 0;
  int64_t eb = elem_bytes;
  auto push = [&](int64_t size, int64_t step) {
    if (size == 1) return;
    if (nd > 0 && stride[nd - 1] == size * step) {
      shape[nd - 1] *= size;
      stride[nd - 1] = step;
    } else {
      shape[nd] = size;
      stride[nd] = step;
      ++nd;
    }
  };
  const bool bytewise = eb != 1 && eb != 2 && eb != 4 && eb != 8;  // never for our dtypes; kept general
  for (int d = 0; d < src.dims && d < 6; ++d) push(src.shape[d], bytewise ? src.strides[d] * eb : src.strides[d]);
  if (bytewise) {
    push(eb, 1);
    numel *= eb;
    eb = 1;
  }
  if (nd == 0) {  // a single element
    shape[0] = 1;
    stride[0] = 1;
    nd = 1;
  }
  // Wider elements where the innermost dim is contiguous and every step and both pointers allow:
  // 16-byte accesses for a slice of contiguous rows.
  if (stride[nd - 1] == 1) {
    for (int64_t w = 16; w > eb; w >>= 1) {
      const int64_t f = w / eb;
      bool ok = shape[nd - 1] % f == 0 && aligned_to(src.data, static_cast<uintptr_t>(w)) &&
                aligned_to(dst, static_cast<uintptr_t>(w));
      for (int i = 0; i + 1 < nd && ok; ++i) ok = stride[i] % f == 0;
      if (!ok) continue;
      shape[nd - 1] /= f;
      for (int i = 0; i + 1 < nd; ++i) stride[i] /= f;
      numel /= f;
      eb = w;
      break;
    }
  }
  OuterDims outer;
  outer.n = nd - 1;
  for (int i = 0; i + 1 < nd; ++i) {
    outer.shape[i] = shape[i];
    outer.stride[i] = stride[i];
  }
  const int64_t cols = shape[nd - 1], rows = numel / cols, inner = stride[nd - 1];
  switch (eb) {
    case 1: launch_gather_typed<uint8_t>(src.data, outer, inner, dst, rows, cols, stream); break;
    case 2: launch_gather_typed<uint16_t>(src.data, outer, inner, dst, rows, cols, stream); break;
    case 4: launch_gather_typed<uint32_t>(src.data, outer, inner, dst, rows, cols, stream); break;
    case 8: launch_gather_typed<uint64_t>(src.data, outer, inner, dst, rows, cols, stream); break;
    default: launch_gather_typed<uint4>(src.data, outer, inner, dst, rows, cols, stream); break;
  }
}

void launch_cast(const void* x, ElemType xt, void* out, ElemType ot, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const unsigned blocks = grid_1d(n, 256);
  with_elem_type(xt, [&](auto s) {
    with_elem_type(ot, [&](auto d) {
      constexpr ElemType S = decltype(s)::value, D = decltype(d)::value;
      cast_kernel<S, D><<<blocks, 256, 0, stream>>>(static_cast<const typename Elem<S>::T*>(x),
                                                    static_cast<typename Elem<D>::T*>(out), n);
    });
  });
}

void launch_embedding(const void* table, ElemType table_type, int64_t vocab, int64_t H, const void* ids, bool ids_i64,
                      int64_t n_ids, float* out, int* bad_id_flag, cudaStream_t stream) {
  if (n_ids <= 0 || H <= 0) return;
  switch (table_type) {
    case ElemType::F32:
      launch_embedding_typed<ElemType::F32>(table, vocab, H, ids, ids_i64, n_ids, out, bad_id_flag, stream);
      break;
    case ElemType::BF16:
      launch_embedding_typed<ElemType::BF16>(table, vocab, H, ids, ids_i64, n_ids, out, bad_id_flag, stream);
      break;
    case ElemType::F16:
      launch_embedding_typed<ElemType::F16>(table, vocab, H, ids, ids_i64, n_ids, out, bad_id_flag, stream);
      break;
    default: break;  // the backend supports embedding for these three table types only
  }
}

}  // namespace ia::cuda
