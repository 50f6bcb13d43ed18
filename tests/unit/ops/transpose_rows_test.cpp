// The kernels' transpose_rows (K rows into columns for Q K^T): every row count up to 16,
// column counts around the 16-wide blocks, only the m x n block of the output written.
#include <gtest/gtest.h>

#include <vector>

#include "backends/cpu/kernels.h"

namespace ia::cpu {
namespace {

void check(const Kernels& k) {
  for (int64_t m = 1; m <= 16; ++m)
    for (int64_t n : {1, 7, 16, 17, 32, 33, 64}) {
      const int64_t ld_rows = n + 5, ldy = m + 3;  // rows apart in memory, output wider than m
      std::vector<float> src(static_cast<size_t>(m * ld_rows));
      for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i) + 0.5f;
      std::vector<const float*> rows;
      for (int64_t r = 0; r < m; ++r) rows.push_back(src.data() + (m - 1 - r) * ld_rows);  // any order
      std::vector<float> y(static_cast<size_t>(n * ldy), -1.0f);
      k.transpose_rows(rows.data(), m, n, y.data(), ldy);
      for (int64_t c = 0; c < n; ++c)
        for (int64_t r = 0; r < ldy; ++r) {
          const float want = r < m ? rows[static_cast<size_t>(r)][c] : -1.0f;
          ASSERT_EQ(y[static_cast<size_t>(c * ldy + r)], want)
              << k.name << " m=" << m << " n=" << n << " c=" << c << " r=" << r;
        }
    }
}

TEST(TransposeRows, Generic) {
  check(generic_kernels());
}

TEST(TransposeRows, Avx512) {
  const Kernels* k = avx512_kernels();
  if (!k) GTEST_SKIP() << "no AVX-512 here";
  check(*k);
}

}  // namespace
}  // namespace ia::cpu
