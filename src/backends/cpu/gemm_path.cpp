#include "backends/cpu/gemm_path.h"

#include <cstdlib>

#include "backends/cpu/kernels.h"

namespace ia::cpu {

const char* gemm_path_name(GemmPath path) {
  switch (path) {
    case GemmPath::OneDnnF32: return "onednn_f32";
    case GemmPath::OneDnnBf16: return "onednn_bf16";
    case GemmPath::AmxDecodeRows: return "amx_decode_rows";
    case GemmPath::AmxGemm: return "amx_gemm";
    case GemmPath::GemvBf16Pairs: return "gemv_bf16_pairs";
    case GemmPath::GemvBf16Widened: return "gemv_bf16_widened";
    case GemmPath::Unsupported: return "unsupported";
  }
  return "unknown";
}

GemmKernelSet GemmKernelSet::of(const Kernels& k) {
  GemmKernelSet s;
  // The AMX rows' last N % 16 rows run on the vdpbf16ps GEMV.
  s.amx_decode_rows = k.gemv_bf16_amx != nullptr && k.gemv_bf16_dp != nullptr;
  static const bool amx_gemm_off = [] {
    const char* e = std::getenv("IA_CPU_AMX_GEMM");
    return e && e[0] == '0';
  }();
  s.amx_gemm = k.gemv_bf16_amx != nullptr && !amx_gemm_off;
  s.gemv_bf16_pairs = k.gemv_bf16_dp != nullptr;
  s.gemv_bf16_widened = k.gemv_bf16 != nullptr;
  return s;
}

GemmPath choose_gemm_path(const GemmProblem& p, const GemmKernelSet& available) {
  if (p.weight == DType::F32) return GemmPath::OneDnnF32;
  if (p.weight != DType::BF16) return GemmPath::Unsupported;
  // 2-16 rows on AMX tiles: the weights stream once, as at one row, where vdpbf16ps would make
  // 8 rows compute-bound. Tiles take K in steps of 32 and 16 output rows at a time.
  if (available.amx_decode_rows && p.M >= 2 && p.M <= 16 && p.K % 32 == 0 && p.N >= 16) return GemmPath::AmxDecodeRows;
  // Up to 8 rows: a weight-streaming GEMV beats oneDNN's GEMM set-up and blocking.
  if (available.gemv_bf16_pairs && p.M <= 8) return GemmPath::GemvBf16Pairs;
  if (available.gemv_bf16_widened && p.M <= 8) return GemmPath::GemvBf16Widened;
  // More rows: the tile GEMM (K in steps of 32; any N, padded to 32 columns when packed).
  if (available.amx_gemm && p.M > 16 && p.K % 32 == 0) return GemmPath::AmxGemm;
  return GemmPath::OneDnnBf16;
}

}  // namespace ia::cpu
