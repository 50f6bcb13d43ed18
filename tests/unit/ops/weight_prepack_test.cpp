// With weight prepacking off (a one-shot generate), many-row linears keep no reordered copy of
// the weights: neither oneDNN's blocked layout nor the AMX tile layout.
#include "core/weight_prepack.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "backends/cpu/amx_gemm.h"
#include "backends/cpu/dnnl_gemm.h"
#include "core/tensor.h"
#include "ops/ops.h"

namespace ia {
namespace {

size_t packed_copies() {
  return cpu::dnnl_packed_weights() + cpu::amx_weight_cache_size();
}

TEST(WeightPrepack, OffKeepsNoReorderedCopy) {
  if (std::getenv("IA_CPU_PREPACK")) GTEST_SKIP() << "IA_CPU_PREPACK is set: the environment fixes the choice";
  cpu::dnnl_clear_caches();
  cpu::clear_amx_weight_cache();
  Tensor x = Tensor::empty({64, 256}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 7) * 0.1f;
  for (DType wdt : {DType::F32, DType::BF16}) {
    Tensor w = Tensor::empty({96, 256}, DType::F32);
    for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = static_cast<float>(i % 5) * 0.01f;
    w = w.to(wdt);
    cpu::dnnl_clear_caches();  // the previous dtype's copy
    cpu::clear_amx_weight_cache();
    set_weight_prepack(false);
    EXPECT_FALSE(weight_prepack_enabled());
    Tensor off = ops::linear(x, w, nullptr);
    EXPECT_EQ(packed_copies(), 0u) << dtype_name(wdt);
    set_weight_prepack(true);
    Tensor on = ops::linear(x, w, nullptr);
    // Same products either way (the copy is a layout, not other numbers).
    for (int64_t i = 0; i < off.numel(); ++i)
      ASSERT_NEAR(off.data<float>()[i], on.data<float>()[i], 1e-3f * (1.0f + std::abs(on.data<float>()[i])))
          << dtype_name(wdt) << " at " << i;
  }
  cpu::dnnl_clear_caches();
  cpu::clear_amx_weight_cache();
}

}  // namespace
}  // namespace ia
