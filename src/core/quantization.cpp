#include "core/quantization.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"

namespace ia {
namespace {

void require_quantized(DType t) {
  IA_CHECK(is_quantized(t), "{} is not a quantized weight format", dtype_name(t));
}

int quant_nibble(const uint8_t* quants, int64_t i) {
  const int64_t chunk = i / kQuantChunk, within = i % kQuantChunk;
  const uint8_t b = quants[chunk * (kQuantChunk / 2) + within % (kQuantChunk / 2)];
  return within < kQuantChunk / 2 ? (b & 0x0f) : (b >> 4);
}

void set_nibble(uint8_t* quants, int64_t i, int q) {
  const int64_t chunk = i / kQuantChunk, within = i % kQuantChunk;
  uint8_t& b = quants[chunk * (kQuantChunk / 2) + within % (kQuantChunk / 2)];
  if (within < kQuantChunk / 2) {
    b = static_cast<uint8_t>((b & 0xf0) | q);
  } else {
    b = static_cast<uint8_t>((b & 0x0f) | (q << 4));
  }
}

int clamp_q(float v, int lo, int hi) {
  return static_cast<int>(std::clamp(std::nearbyint(v), static_cast<float>(lo), static_cast<float>(hi)));
}

}  // namespace

int64_t quant_group_size(DType t) {
  switch (t) {
    case DType::Q4G32:
    case DType::Q4ZG32: return 32;
    case DType::Q4G128:
    case DType::Q4ZG128: return 128;
    default: return 0;
  }
}

bool quant_has_zero_point(DType t) {
  return t == DType::Q4ZG32 || t == DType::Q4ZG128;
}

bool quantizable(DType t, int64_t k) {
  if (!is_quantized(t) || k <= 0) return false;
  const int64_t g = quant_group_size(t);
  return g == 0 || k % g == 0;
}

int64_t quant_scales_offset(DType t, int64_t k) {
  require_quantized(t);
  return t == DType::Q8 ? quant_padded_k(k) : quant_padded_k(k) / 2;
}

int64_t quant_zeros_offset(DType t, int64_t k) {
  return quant_scales_offset(t, k) + (t == DType::Q8 ? 4 : 2 * (k / quant_group_size(t)));
}

int64_t quantized_row_bytes(DType t, int64_t k) {
  return quant_zeros_offset(t, k) + (quant_has_zero_point(t) ? k / quant_group_size(t) : 0);
}

void quantize_row(const float* w, int64_t k, DType t, uint8_t* out) {
  IA_CHECK(quantizable(t, k), "cannot store {} inputs as {}", k, dtype_name(t));
  std::memset(out, 0, static_cast<size_t>(quantized_row_bytes(t, k)));
  if (t == DType::Q8) {
    float amax = 0;
    for (int64_t i = 0; i < k; ++i) amax = std::max(amax, std::fabs(w[i]));
    const float scale = amax / 127.0f;
    auto* q = reinterpret_cast<int8_t*>(out);
    for (int64_t i = 0; i < k; ++i) q[i] = static_cast<int8_t>(scale > 0 ? clamp_q(w[i] / scale, -127, 127) : 0);
    std::memcpy(out + quant_scales_offset(t, k), &scale, 4);
    return;
  }
  const int64_t g = quant_group_size(t);
  uint8_t* scales = out + quant_scales_offset(t, k);
  uint8_t* zeros = out + quant_zeros_offset(t, k);
  for (int64_t g0 = 0; g0 < k; g0 += g) {
    const float* v = w + g0;
    float scale;
    int zero;
    if (quant_has_zero_point(t)) {
      float lo = 0, hi = 0;
      for (int64_t i = 0; i < g; ++i) {
        lo = std::min(lo, v[i]);
        hi = std::max(hi, v[i]);
      }
      scale = f16_to_f32(f32_to_f16((hi - lo) / 15.0f));
      zero = scale > 0 ? clamp_q(-lo / scale, 0, 15) : 0;
      zeros[g0 / g] = static_cast<uint8_t>(zero);
    } else {
      float m = 0;
      for (int64_t i = 0; i < g; ++i)
        if (std::fabs(v[i]) > std::fabs(m)) m = v[i];
      scale = f16_to_f32(f32_to_f16(m / -8.0f));
      zero = 8;
    }
    const uint16_t s16 = f32_to_f16(scale);
    std::memcpy(scales + 2 * (g0 / g), &s16, 2);
    for (int64_t i = 0; i < g; ++i) set_nibble(out, g0 + i, scale != 0 ? clamp_q(v[i] / scale + zero, 0, 15) : zero);
  }
}

void dequantize_row(const uint8_t* row, int64_t k, DType t, float* out) {
  IA_CHECK(quantizable(t, k), "cannot read {} inputs as {}", k, dtype_name(t));
  if (t == DType::Q8) {
    float scale;
    std::memcpy(&scale, row + quant_scales_offset(t, k), 4);
    const auto* q = reinterpret_cast<const int8_t*>(row);
    for (int64_t i = 0; i < k; ++i) out[i] = scale * static_cast<float>(q[i]);
    return;
  }
  const int64_t g = quant_group_size(t);
  const uint8_t* scales = row + quant_scales_offset(t, k);
  const uint8_t* zeros = row + quant_zeros_offset(t, k);
  for (int64_t i = 0; i < k; ++i) {
    uint16_t s16;
    std::memcpy(&s16, scales + 2 * (i / g), 2);
    const int zero = quant_has_zero_point(t) ? zeros[i / g] : 8;
    out[i] = f16_to_f32(s16) * static_cast<float>(quant_nibble(row, i) - zero);
  }
}

Tensor quantize_matrix(const Tensor& w, DType t) {
  IA_CHECK(w.dim() == 2, "quantize: expects a matrix, got {}", w.describe());
  const int64_t n = w.size(0), k = w.size(1);
  if (!quantizable(t, k))
    fail(ErrorKind::InvalidArgument, "quantize: {} inputs cannot be stored as {} (groups of {})", k, dtype_name(t),
         quant_group_size(t));
  const int64_t rb = quantized_row_bytes(t, k);
  Tensor out = Tensor::empty({n, rb}, t);
  Tensor f = w.dtype() == DType::F32 ? w.contiguous() : w.to(DType::F32);
  const float* src = f.data<float>();
  uint8_t* dst = out.data<uint8_t>();
  parallel_for(n, 1, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) quantize_row(src + j * k, k, t, dst + j * rb);
  });
  return out;
}

Tensor dequantize_matrix(const Tensor& q, int64_t k) {
  IA_CHECK(
      is_quantized(q.dtype()) && q.dim() == 2 && q.is_contiguous() && q.size(1) == quantized_row_bytes(q.dtype(), k),
      "dequantize: {} is not a packed matrix of {} inputs", q.describe(), k);
  const int64_t n = q.size(0), rb = q.size(1);
  Tensor out = Tensor::empty({n, k}, DType::F32);
  for (int64_t j = 0; j < n; ++j) dequantize_row(q.data<uint8_t>() + j * rb, k, q.dtype(), out.data<float>() + j * k);
  return out;
}

Tensor with_zero_points(const Tensor& packed, int64_t k) {
  const DType from = packed.dtype();
  if (from != DType::Q4G32 && from != DType::Q4G128) return packed;
  const DType to = from == DType::Q4G32 ? DType::Q4ZG32 : DType::Q4ZG128;
  const Tensor p = packed.contiguous();
  const int64_t n = p.size(0), rb_from = p.size(1), rb_to = quantized_row_bytes(to, k);
  Tensor out = Tensor::zeros({n, rb_to}, to);
  for (int64_t j = 0; j < n; ++j) {
    uint8_t* row = out.data<uint8_t>() + j * rb_to;
    std::memcpy(row, p.data<uint8_t>() + j * rb_from, static_cast<size_t>(rb_from));  // quants, then scales
    std::memset(row + quant_zeros_offset(to, k), 8, static_cast<size_t>(k / quant_group_size(to)));
  }
  return out;
}

WeightQuantization weight_quantization(const std::string& method) {
  WeightQuantization q;
  if (method.empty() || method == "none") return q;
  q.method = method;
  q.head = DType::Q8;
  if (method == "int8") {
    q.layers = DType::Q8;
  } else if (method == "q4") {
    q.layers = DType::Q4G32;
  } else if (method == "q4_128") {
    q.layers = DType::Q4G128;
  } else if (method == "q4z") {
    q.layers = DType::Q4ZG32;
  } else if (method == "q4z_128") {
    q.layers = DType::Q4ZG128;
  } else {
    fail(ErrorKind::InvalidArgument, "--quantize {}: unknown method (use int8, q4, q4_128, q4z, q4z_128 or none)",
         method);
  }
  return q;
}

}  // namespace ia
