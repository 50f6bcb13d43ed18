#pragma once
// Linear layers on packed weights (core/quantization.h): the activations are quantized per row
// in blocks of 32 as llama.cpp's Q8_0/Q8_1 activations are, then each block's int8 products
// with the weights' quants are summed exactly in int32 and scaled in f32 (docs/quantization.md).
// A table per ISA, chosen at run time: AVX-512 VNNI (vpdpbusd), AVX2 (vpmaddubsw), generic C++.
#include <cstdint>

#include "core/dtype.h"

namespace ia::cpu {

inline constexpr int64_t kActBlock = 32;  // activations per block of one scale
// More rows than this (prefill, big batches) dequantize the weights to bf16 in row chunks and
// run the bf16 GEMM path (AMX tiles or oneDNN) where the CPU multiplies bf16 in hardware:
// the tile unit outruns the integer kernels by far once the weights are reused across rows.
inline constexpr int64_t kQuantizedKernelMaxRows = 16;
// Whether linears of `rows` rows on packed weights take the bf16 path on this machine.
bool quantized_linear_uses_bf16_gemm(int64_t rows);

// M rows of K activations, quantized: row m, block b (32 values, the last padded with zeros up
// to Kp = quant_padded_k(K)): d = max|x| / 127 (f32), q = nearest(x * (1 / d)) with ties to
// even (0 when d = 0), and ds = d * sum(q) for the weights' zero points.
struct QuantizedActivations {
  int64_t M = 0, K = 0, Kp = 0;
  const int8_t* q = nullptr;  // [M, Kp]
  const float* d = nullptr;   // [M, Kp / 32]
  const float* ds = nullptr;  // [M, Kp / 32]
  // Filled for the weights' groups (Q8: one group of the whole row): group_ds [M, groups] holds
  // the sum of ds over each group's blocks, what a group's zero point multiplies.
  int64_t groups = 0;
  const float* group_ds = nullptr;
};

enum class QuantIsa { Generic, Avx2, Avx512Vnni };

struct QuantKernels {
  QuantIsa isa;
  const char* name;
  // One row: x [K] f32 -> q [Kp], d and ds [Kp / 32], as QuantizedActivations says.
  void (*quantize_row)(const float* x, int64_t K, int8_t* q, float* d, float* ds);
  // y[m * ldy + j] = bias[j] + sum over the row's groups g of scale_jg * sum over its blocks b
  // of d_mb * sum_k q_mk (w_jk - zero_jg), for output rows j in [j0, j1) of the packed weights
  // w (row stride ldw bytes) of dtype wt (Q8: zero 0, one scale per row). bias may be null.
  void (*gemv)(DType wt, const QuantizedActivations& x, const uint8_t* w, int64_t ldw, const float* bias, float* y,
               int64_t ldy, int64_t j0, int64_t j1);
};

const QuantKernels& generic_quant_kernels();
const QuantKernels* avx2_quant_kernels();    // null without AVX2 + FMA + F16C
const QuantKernels* avx512_quant_kernels();  // null without AVX-512 (F, BW, VL) + VNNI

// The best this CPU has, unless IA_CPU_ISA=generic (then generic) or force_quant_isa said so.
const QuantKernels& quant_kernels();
// For tests and benchmarks: false when `isa` is not available here.
bool force_quant_isa(QuantIsa isa);
bool quant_isa_available(QuantIsa isa);
// The kernels to use again (after force_quant_isa).
void reset_quant_isa();

}  // namespace ia::cpu
