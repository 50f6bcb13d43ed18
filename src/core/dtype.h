#pragma once
// Element types and the scalar conversions between them.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ia {

// Q8 ... Q4ZG128 are packed weight formats (core/quantization.h, docs/quantization.md): a tensor
// of one is [rows, quantized_row_bytes(dtype, in)] bytes, each row one output's packed weights
// with its scales; its element is one byte, so views, copies and concatenation by rows work as
// on U8. Q8Kv is the KV cache's int8 format (core/kv_quantization.h): a cache of it is
// [blocks, block_size, kv_heads, head_dim + 4] bytes, each (token, head) row its int8 quants
// and f32 scale.
enum class DType : uint8_t {
  F64,
  F32,
  F16,
  BF16,
  I64,
  I32,
  I16,
  I8,
  U8,
  Bool,
  Q8,
  Q4G32,
  Q4G128,
  Q4ZG32,
  Q4ZG128,
  Q8Kv
};

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "f32", "bf16", ...
// Parses our short names ("f32", "bf16", "f16") and safetensors names ("F32", "BF16", ...).
bool parse_dtype(std::string_view s, DType* out);
bool is_float(DType t);
// A packed weight format (Q8, Q4*): see core/quantization.h.
bool is_quantized(DType t);

inline float bf16_to_f32(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, as torch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float f16_to_f32(uint16_t v);

// Element i of an array of type t, read or written through a double (exact for
// every float type and for integers up to 2^53). For generic, slow paths only.
double load_scalar(const void* base, DType t, int64_t i);
void store_scalar(void* base, DType t, int64_t i, double v);
uint16_t f32_to_f16(float f);

}  // namespace ia
