#pragma once
// Helpers shared by the CPU op files (internal to the CPU backend).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backends/backend.h"
#include "backends/cpu/kernels.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"

namespace ia::cpu {

// Rows per parallel chunk so that each chunk touches at least ~16K elements.
inline int64_t row_grain(int64_t row_len) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(row_len, 1));
}

// Element i of an index array of dtype t (i32 and i64 directly, other dtypes through
// core's load_scalar).
inline int64_t load_index(const void* base, DType t, int64_t i) {
  switch (t) {
    case DType::I64: return static_cast<const int64_t*>(base)[i];
    case DType::I32: return static_cast<const int32_t*>(base)[i];
    default: return static_cast<int64_t>(load_scalar(base, t, i));
  }
}

// Element i of a 1-D (possibly strided) i32 / i64 index tensor (positions, slots, starts).
inline int64_t index_at(const Tensor& t, int64_t i) {
  if (t.dtype() != DType::I64 && t.dtype() != DType::I32)
    fail(ErrorKind::Internal, "cpu: index tensor must be i32 or i64, got {}", t.describe());
  return load_index(t.raw(), t.dtype(), t.dim() == 0 ? 0 : i * t.strides().back());
}

inline void check_f32(const Tensor& t, const char* op, const char* what) {
  IA_CHECK(t.dtype() == DType::F32, "cpu {}: {} must be f32, got {}", op, what, t.describe());
}

inline void check_contig(const Tensor& t, const char* op, const char* what) {
  IA_CHECK(t.is_contiguous(), "cpu {}: {} must be contiguous, got {} strides {}", op, what, t.describe(),
           shape_str(t.strides()));
}

// y = act(x) for one row of n floats (x == y allowed), through the kernel table; tanh has no
// row kernel and runs std::tanh. The one mapping from Activation to code on the CPU, for the
// activation op and the GEMM epilogues that apply it per block.
inline void activation_row(const Kernels& k, Activation act, const float* x, float* y, int64_t n) {
  void (*fn)(const float*, float*, int64_t) = nullptr;
  switch (act) {
    case Activation::GeluErf: fn = k.gelu_erf; break;
    case Activation::GeluTanh: fn = k.gelu_tanh; break;
    case Activation::Silu: fn = k.silu; break;
    case Activation::Relu: fn = k.relu; break;
    case Activation::QuickGelu: fn = k.quick_gelu; break;
    case Activation::Tanh: break;
  }
  if (fn) {
    fn(x, y, n);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
  }
}

}  // namespace ia::cpu
