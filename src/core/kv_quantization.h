#pragma once
// The KV cache's element formats (--kv-cache-dtype, docs/quantization.md#kv-cache).
//
// f32 (the default): a cache is [blocks, block_size, kv_heads, head_dim] floats.
// int8 (DType::Q8Kv): a cache is [blocks, block_size, kv_heads, head_dim + 4] bytes; the row of
// one (token, kv head) is its head_dim int8 quants q, then its f32 scale s (little-endian, not
// necessarily 4-byte aligned): x = s * q. Symmetric, per token and head: s = max|x| / 127,
// q = nearest (ties to even) of x / s in [-127, 127] (all zeros: s = 0, q = 0). A token's rows are
// written once, when it is appended, and never rescaled by later tokens, so an append is exact
// and local (no block-wide scale to revisit) and a shared prefix block reads the same for every
// sequence that holds it.
#include <cstdint>
#include <cstring>
#include <string>

#include "core/dtype.h"

namespace ia {

inline constexpr int64_t kKvQ8ScaleBytes = 4;

// Elements along the last axis of a cache of `cache` holding rows of head_dim values:
// head_dim (f32), head_dim + 4 bytes (Q8Kv).
int64_t kv_cache_row_elems(DType cache, int64_t head_dim);
// The head dim a cache row of `row_elems` elements holds (the inverse).
int64_t kv_cache_head_dim(DType cache, int64_t row_elems);
// Bytes of one (token, kv head) row of K (or V).
int64_t kv_cache_row_bytes(DType cache, int64_t head_dim);
// Whether the KV cache can be of this dtype (F32, Q8Kv).
bool is_kv_cache_dtype(DType t);

// --kv-cache-dtype: "auto" and "f32" -> F32 (this build keeps K/V in f32 unless asked),
// "int8" -> Q8Kv; InvalidArgument naming the choices for anything else.
DType parse_kv_cache_dtype(const std::string& s);
// The flag's name of a KV cache dtype ("f32", "int8").
const char* kv_cache_dtype_name(DType t);

// One row of d floats into a Q8Kv row of d + 4 bytes, and back (exactly s * q in f32).
void quantize_kv_row(const float* x, int64_t d, uint8_t* row);
void dequantize_kv_row(const uint8_t* row, int64_t d, float* out);
// The scale of a Q8Kv row of head dim d.
inline float kv_row_scale(const uint8_t* row, int64_t d) {
  float s;
  std::memcpy(&s, row + d, sizeof s);
  return s;
}

}  // namespace ia
