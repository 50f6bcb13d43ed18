#include "core/kv_quantization.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace ia {

int64_t kv_cache_row_elems(DType cache, int64_t head_dim) {
  switch (cache) {
    case DType::F32: return head_dim;
    case DType::Q8Kv: return head_dim + kKvQ8ScaleBytes;
    default: fail(ErrorKind::Internal, "kv cache: no cache of dtype {}", dtype_name(cache));
  }
}

int64_t kv_cache_head_dim(DType cache, int64_t row_elems) {
  return cache == DType::Q8Kv ? row_elems - kKvQ8ScaleBytes : row_elems;
}

int64_t kv_cache_row_bytes(DType cache, int64_t head_dim) {
  return kv_cache_row_elems(cache, head_dim) * static_cast<int64_t>(dtype_size(cache));
}

bool is_kv_cache_dtype(DType t) {
  return t == DType::F32 || t == DType::Q8Kv;
}

DType parse_kv_cache_dtype(const std::string& s) {
  if (s == "auto" || s == "f32" || s.empty()) return DType::F32;
  if (s == "int8") return DType::Q8Kv;
  fail(ErrorKind::InvalidArgument, "--kv-cache-dtype must be auto, f32 or int8, got '{}'", s);
}

const char* kv_cache_dtype_name(DType t) {
  return t == DType::Q8Kv ? "int8" : dtype_name(t);
}

void quantize_kv_row(const float* x, int64_t d, uint8_t* row) {
  float amax = 0.0f;
  for (int64_t i = 0; i < d; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float s = amax / 127.0f;
  auto* q = reinterpret_cast<int8_t*>(row);
  for (int64_t i = 0; i < d; ++i)
    q[i] = s > 0.0f ? static_cast<int8_t>(std::clamp(std::nearbyint(x[i] / s), -127.0f, 127.0f)) : int8_t{0};
  std::memcpy(row + d, &s, sizeof s);
}

void dequantize_kv_row(const uint8_t* row, int64_t d, float* out) {
  const float s = kv_row_scale(row, d);
  const auto* q = reinterpret_cast<const int8_t*>(row);
  for (int64_t i = 0; i < d; ++i) out[i] = s * static_cast<float>(q[i]);
}

}  // namespace ia
