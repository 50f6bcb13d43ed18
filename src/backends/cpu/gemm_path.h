#pragma once
// Which kernel runs a linear layer out[M, N] = x[M, K] @ w[N, K]^T: the one place that
// chooses, from the problem's shape and dtypes and what this machine offers.
#include <cstdint>

#include "core/dtype.h"

namespace ia::cpu {

struct Kernels;

enum class GemmPath {
  OneDnnF32,        // f32 weights: oneDNN, weights prepacked
  OneDnnBf16,       // bf16 weights, many rows, no AMX: oneDNN (AVX512-BF16 or AVX-512 inside)
  AmxGemm,          // bf16, more than 16 rows: own AMX tile GEMM on weights packed once
  AmxDecodeRows,    // bf16, 2-16 rows: AMX tiles stream the weights once for all rows
  GemvBf16Pairs,    // bf16, up to 8 rows: weight-streaming GEMV on vdpbf16ps (AVX512-BF16)
  GemvBf16Widened,  // bf16, up to 8 rows, no AVX512-BF16: the GEMV on x rounded to bf16 and widened to f32
  Unsupported,      // weight dtype with no CPU GEMM
};
const char* gemm_path_name(GemmPath path);

struct GemmProblem {
  int64_t M = 0, N = 0, K = 0;
  DType weight = DType::F32;
};

// The own kernels this process may use. Taken from the kernel table, which already folds in
// the CPU's ISA and the switches IA_CPU_ISA=generic and IA_CPU_AMX=0.
struct GemmKernelSet {
  bool amx_decode_rows = false;
  bool gemv_bf16_pairs = false;
  bool gemv_bf16_widened = false;
  bool amx_gemm = false;  // off with IA_CPU_AMX_GEMM=0 (oneDNN instead, for comparing)
  static GemmKernelSet of(const Kernels& k);
};

// Few rows (decode) stream the weights in own kernels, where oneDNN's blocking and set-up
// cost more than the product; many bf16 rows run on own AMX tiles where the CPU has them
// (Debian's oneDNN 2.6 reaches half their rate); everything else goes to oneDNN.
GemmPath choose_gemm_path(const GemmProblem& p, const GemmKernelSet& available);

}  // namespace ia::cpu
