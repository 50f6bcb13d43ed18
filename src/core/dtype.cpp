#include "core/dtype.h"

#include <cmath>

namespace ia {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F64:
    case DType::I64: return 8;
    case DType::F32:
    case DType::I32: return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16: return 2;
    case DType::I8:
    case DType::U8:
    case DType::Bool:
    case DType::Q8:
    case DType::Q4G32:
    case DType::Q4G128:
    case DType::Q4ZG32:
    case DType::Q4ZG128:
    case DType::Q8Kv: return 1;  // packed formats: bytes
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F64: return "f64";
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::I64: return "i64";
    case DType::I32: return "i32";
    case DType::I16: return "i16";
    case DType::I8: return "i8";
    case DType::U8: return "u8";
    case DType::Bool: return "bool";
    case DType::Q8: return "q8";
    case DType::Q4G32: return "q4_g32";
    case DType::Q4G128: return "q4_g128";
    case DType::Q4ZG32: return "q4z_g32";
    case DType::Q4ZG128: return "q4z_g128";
    case DType::Q8Kv: return "q8_kv";
  }
  return "?";
}

bool parse_dtype(std::string_view s, DType* out) {
  struct Entry {
    std::string_view a, b;
    DType t;
  };
  static constexpr Entry kTable[] = {{"f64", "F64", DType::F64}, {"f32", "F32", DType::F32},
                                     {"f16", "F16", DType::F16}, {"bf16", "BF16", DType::BF16},
                                     {"i64", "I64", DType::I64}, {"i32", "I32", DType::I32},
                                     {"i16", "I16", DType::I16}, {"i8", "I8", DType::I8},
                                     {"u8", "U8", DType::U8},    {"bool", "BOOL", DType::Bool}};
  for (const auto& e : kTable) {
    if (s == e.a || s == e.b) {
      *out = e.t;
      return true;
    }
  }
  return false;
}

bool is_quantized(DType t) {
  return t == DType::Q8 || t == DType::Q4G32 || t == DType::Q4G128 || t == DType::Q4ZG32 || t == DType::Q4ZG128;
}

bool is_float(DType t) {
  return t == DType::F64 || t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      float f = std::ldexp(static_cast<float>(mant), -24);
      std::memcpy(&bits, &f, 4);
      bits |= sign;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (absx < 0x38800000u) {                                               // subnormal or zero
    float a;
    std::memcpy(&a, &absx, 4);
    // Scale so that the f16 subnormal unit (2^-24) becomes 1, round to nearest even.
    float scaled = a * 16777216.0f;
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t exp = ((absx >> 23) - 112) << 10;
  uint32_t mant = (absx >> 13) & 0x3ffu;
  uint32_t rest = absx & 0x1fffu;
  uint32_t h = exp | mant;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h += 1;  // may carry into exponent: correct
  return static_cast<uint16_t>(sign | h);
}

double load_scalar(const void* base, DType t, int64_t i) {
  switch (t) {
    case DType::F64: return static_cast<const double*>(base)[i];
    case DType::F32: return static_cast<const float*>(base)[i];
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(base)[i]);
    case DType::I64: return static_cast<double>(static_cast<const int64_t*>(base)[i]);
    case DType::I32: return static_cast<const int32_t*>(base)[i];
    case DType::I16: return static_cast<const int16_t*>(base)[i];
    case DType::I8: return static_cast<const int8_t*>(base)[i];
    case DType::U8: return static_cast<const uint8_t*>(base)[i];
    case DType::Bool: return static_cast<const uint8_t*>(base)[i] != 0;
    case DType::Q8:
    case DType::Q4G32:
    case DType::Q4G128:
    case DType::Q4ZG32:
    case DType::Q4ZG128:
    case DType::Q8Kv: return static_cast<const uint8_t*>(base)[i];  // the packed bytes
  }
  return 0;
}

void store_scalar(void* base, DType t, int64_t i, double v) {
  switch (t) {
    case DType::F64: static_cast<double*>(base)[i] = v; break;
    case DType::F32: static_cast<float*>(base)[i] = static_cast<float>(v); break;
    case DType::F16: static_cast<uint16_t*>(base)[i] = f32_to_f16(static_cast<float>(v)); break;
    case DType::BF16: static_cast<uint16_t*>(base)[i] = f32_to_bf16(static_cast<float>(v)); break;
    case DType::I64: static_cast<int64_t*>(base)[i] = static_cast<int64_t>(v); break;
    case DType::I32: static_cast<int32_t*>(base)[i] = static_cast<int32_t>(v); break;
    case DType::I16: static_cast<int16_t*>(base)[i] = static_cast<int16_t>(v); break;
    case DType::I8: static_cast<int8_t*>(base)[i] = static_cast<int8_t>(v); break;
    case DType::U8: static_cast<uint8_t*>(base)[i] = static_cast<uint8_t>(v); break;
    case DType::Bool: static_cast<uint8_t*>(base)[i] = v != 0; break;
    case DType::Q8:
    case DType::Q4G32:
    case DType::Q4G128:
    case DType::Q4ZG32:
    case DType::Q4ZG128:
    case DType::Q8Kv: static_cast<uint8_t*>(base)[i] = static_cast<uint8_t>(v); break;  // the packed bytes
  }
}

}  // namespace ia
