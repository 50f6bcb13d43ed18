// The CPU's GEMM path table: which kernel a linear layer of a given shape runs on, per what
// the machine offers.
#include "backends/cpu/gemm_path.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "backends/cpu/kernels.h"

namespace ia::cpu {
namespace {

GemmPath path(int64_t M, int64_t N, int64_t K, DType w, GemmKernelSet k) {
  return choose_gemm_path(GemmProblem{M, N, K, w}, k);
}

TEST(GemmPath, F32WeightsAlwaysRunOnOneDnn) {
  const GemmKernelSet all{true, true, true};
  for (int64_t M : {1, 4, 16, 4096}) EXPECT_EQ(path(M, 768, 768, DType::F32, all), GemmPath::OneDnnF32) << M;
}

TEST(GemmPath, OtherWeightDtypesAreUnsupported) {
  EXPECT_EQ(path(4, 64, 64, DType::F16, GemmKernelSet{true, true, true}), GemmPath::Unsupported);
  EXPECT_EQ(path(4, 64, 64, DType::I8, GemmKernelSet{}), GemmPath::Unsupported);
}

TEST(GemmPath, Bf16DecodeRowsOnAmxWhereTheTilesFit) {
  const GemmKernelSet amx{true, true, true};
  EXPECT_EQ(path(2, 2048, 2048, DType::BF16, amx), GemmPath::AmxDecodeRows);
  EXPECT_EQ(path(16, 17, 64, DType::BF16, amx), GemmPath::AmxDecodeRows);
  // One row, K not a multiple of 32, or fewer than 16 outputs: the vdpbf16ps GEMV.
  EXPECT_EQ(path(1, 2048, 2048, DType::BF16, amx), GemmPath::GemvBf16Pairs);
  EXPECT_EQ(path(4, 2048, 2040, DType::BF16, amx), GemmPath::GemvBf16Pairs);
  EXPECT_EQ(path(4, 15, 64, DType::BF16, amx), GemmPath::GemvBf16Pairs);
  // 9-16 rows that the tiles cannot take, and every prefill: oneDNN.
  EXPECT_EQ(path(12, 2048, 48, DType::BF16, amx), GemmPath::OneDnnBf16);
  EXPECT_EQ(path(17, 2048, 2048, DType::BF16, amx), GemmPath::OneDnnBf16);
  EXPECT_EQ(path(4096, 384, 384, DType::BF16, amx), GemmPath::OneDnnBf16);
}

TEST(GemmPath, Bf16ManyRowsOnOwnAmxGemm) {
  GemmKernelSet amx{true, true, true};
  amx.amx_gemm = true;
  EXPECT_EQ(path(17, 2048, 2048, DType::BF16, amx), GemmPath::AmxGemm);
  EXPECT_EQ(path(4096, 384, 384, DType::BF16, amx), GemmPath::AmxGemm);
  EXPECT_EQ(path(100, 17, 64, DType::BF16, amx), GemmPath::AmxGemm);  // any N: packed to 32 columns
  EXPECT_EQ(path(16, 2048, 2048, DType::BF16, amx), GemmPath::AmxDecodeRows);
  EXPECT_EQ(path(4096, 384, 48, DType::BF16, amx), GemmPath::OneDnnBf16);  // K not in steps of 32
  EXPECT_EQ(path(4096, 384, 384, DType::F32, amx), GemmPath::OneDnnF32);
}

TEST(GemmPath, Bf16DecodeWithoutAmx) {
  const GemmKernelSet dp{false, true, true};  // AVX512-BF16, or IA_CPU_AMX=0
  EXPECT_EQ(path(1, 512, 512, DType::BF16, dp), GemmPath::GemvBf16Pairs);
  EXPECT_EQ(path(8, 512, 512, DType::BF16, dp), GemmPath::GemvBf16Pairs);
  EXPECT_EQ(path(9, 512, 512, DType::BF16, dp), GemmPath::OneDnnBf16);
  const GemmKernelSet avx512{false, false, true};  // AVX-512 without BF16
  EXPECT_EQ(path(3, 512, 512, DType::BF16, avx512), GemmPath::GemvBf16Widened);
  EXPECT_EQ(path(9, 512, 512, DType::BF16, avx512), GemmPath::OneDnnBf16);
  const GemmKernelSet generic{};  // IA_CPU_ISA=generic
  EXPECT_EQ(path(1, 512, 512, DType::BF16, generic), GemmPath::OneDnnBf16);
}

TEST(GemmPath, KernelSetFollowsTheKernelTable) {
  const GemmKernelSet g = GemmKernelSet::of(generic_kernels());
  EXPECT_FALSE(g.amx_decode_rows || g.gemv_bf16_pairs || g.gemv_bf16_widened);
  if (const Kernels* k = avx512_kernels()) {
    const GemmKernelSet a = GemmKernelSet::of(*k);
    EXPECT_TRUE(a.gemv_bf16_widened);
    EXPECT_EQ(a.gemv_bf16_pairs, k->gemv_bf16_dp != nullptr);
    EXPECT_EQ(a.amx_decode_rows, k->gemv_bf16_amx != nullptr);
    const char* off = std::getenv("IA_CPU_AMX_GEMM");
    EXPECT_EQ(a.amx_gemm, k->gemv_bf16_amx != nullptr && !(off && off[0] == '0'));
  }
}

}  // namespace
}  // namespace ia::cpu
