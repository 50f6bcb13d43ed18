#pragma once
// Packed weight formats for linear layers (docs/quantization.md has the byte layouts).
//
// A quantized matrix of `n` outputs and `k` inputs is a Tensor of dtype Q8 / Q4* and shape
// [n, quantized_row_bytes(dtype, k)]: row j holds output j's weights with their scales, so
// narrowing, copying and stacking by rows (fused Q|K|V) work as on bytes. `k` is not stored:
// it is the input's size, which ops::linear checks against the row bytes.
//
//   Q8       per output channel, symmetric: w = scale * q, q int8 in [-127, 127], one f32 scale
//   Q4G32    groups of 32 inputs, symmetric: w = scale_g * (q - 8), q in [0, 15], f16 scale_g
//   Q4G128   the same with groups of 128
//   Q4ZG32   groups of 32 with a zero point: w = scale_g * (q - zero_g), zero_g in [0, 15] (u8)
//   Q4ZG128  the same with groups of 128
//
// Row layout: the quants of k_padded = k rounded up to 64 inputs first (Q8: one int8 each;
// Q4: chunks of 64 inputs in 32 bytes, byte i of a chunk holding input i in its low nibble
// and input i + 32 in its high nibble; padding quants are 0), then the scales (Q8: one f32;
// Q4: k / G f16), then for Q4Z the k / G zero points (u8).
#include <cstdint>
#include <optional>
#include <string>

#include "core/dtype.h"
#include "core/tensor.h"

namespace ia {

inline constexpr int64_t kQuantChunk = 64;  // inputs per chunk of packed quants

// Inputs per group of one scale: 32 or 128 for Q4*, 0 for Q8 (one scale per row).
int64_t quant_group_size(DType t);
bool quant_has_zero_point(DType t);
// k rounded up to a whole chunk.
inline int64_t quant_padded_k(int64_t k) {
  return (k + kQuantChunk - 1) / kQuantChunk * kQuantChunk;
}
// Whether a matrix of `k` inputs can be stored as t (Q4: k a multiple of the group size).
bool quantizable(DType t, int64_t k);
int64_t quantized_row_bytes(DType t, int64_t k);
// Byte offsets within a row of the scales and (Q4Z) the zero points.
int64_t quant_scales_offset(DType t, int64_t k);
int64_t quant_zeros_offset(DType t, int64_t k);

// One row of k floats packed as t into quantized_row_bytes(t, k) bytes. The rounding:
// Q8: scale = max|w| / 127, q = nearest (ties to even) of w / scale.
// Q4 symmetric (as llama.cpp's Q4_0): m = the group's value of largest magnitude, scale =
// f16(m / -8), q = clamp(nearest(w / scale) + 8, 0, 15) (m itself becomes q = 0, -8 scale).
// Q4Z (as GPTQ's min-max grid): lo = min(min w, 0), hi = max(max w, 0), scale = f16((hi - lo)
// / 15), zero = clamp(nearest(-lo / scale), 0, 15), q = clamp(nearest(w / scale) + zero, 0, 15).
void quantize_row(const float* w, int64_t k, DType t, uint8_t* out);
// The k values a packed row stands for, exactly (scale * (q - zero) in f32).
void dequantize_row(const uint8_t* row, int64_t k, DType t, float* out);

// w [n, k] (f32, bf16 or f16, host) -> [n, quantized_row_bytes(t, k)] of dtype t on the host.
// InvalidArgument when !quantizable(t, k).
Tensor quantize_matrix(const Tensor& w, DType t);
// A packed host matrix of `k` inputs back to f32 [n, k].
Tensor dequantize_matrix(const Tensor& q, int64_t k);

// A Q4G32 / Q4G128 matrix of `k` inputs as Q4ZG32 / Q4ZG128 with every zero point 8 (the same
// values), so that it stacks with zero-point parts; other formats are returned as they are.
Tensor with_zero_points(const Tensor& packed, int64_t k);

// Which formats a model's matrices take when it loads (`--quantize`), by a simple rule:
// the layers' matrices take `layers`; the LM head takes `head` (8 bits: it is the largest
// single matrix of a small model and writes the logits directly, so llama.cpp's 4-bit presets
// keep it at 6-8 bits too); token embeddings stay in the compute dtype (a lookup reads a few
// rows, so packing them saves memory but no decode time, and every layer's input stays exact).
// A layer matrix whose input size is not a multiple of the 4-bit group takes Q8 instead.
struct WeightQuantization {
  std::string method;           // "" (none), "int8", "q4", "q4_128", "q4z", "q4z_128"
  std::optional<DType> layers;  // none: unquantized
  std::optional<DType> head;
  bool enabled() const { return layers.has_value(); }
  // The format of a layer matrix of k inputs.
  DType layer_format(int64_t k) const { return quantizable(*layers, k) ? *layers : DType::Q8; }
};
// "none" or "" -> disabled; InvalidArgument naming the choices for anything else.
WeightQuantization weight_quantization(const std::string& method);

}  // namespace ia
