// The kernels' bf16 rounding (round_bf16: f32 -> nearest bf16 kept in f32; interleave_bf16)
// against core's scalar f32_to_bf16, bit for bit: ties to even, overflow to infinity, signed
// zeros, subnormals, NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/dtype.h"

namespace ia::cpu {
namespace {

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

void check(const Kernels& k) {
  std::vector<float> x = {0.0f,
                          -0.0f,
                          1.0f,
                          from_bits(0x3f808000u),
                          from_bits(0x3f818000u),
                          from_bits(0x3f80ffffu),
                          from_bits(0x7f7fffffu),
                          -std::numeric_limits<float>::max(),
                          from_bits(0x00000001u),
                          from_bits(0x807fffffu),
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()};
  std::mt19937 g(3);
  std::uniform_int_distribution<uint32_t> any;
  while (x.size() < 1003) {  // not a multiple of 16: the masked tail too
    const float f = from_bits(any(g));
    if (!std::isnan(f)) x.push_back(f);
  }
  std::vector<float> y(x.size(), 123.0f);
  k.round_bf16(x.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(bits_of(y[i]), bits_of(bf16_to_f32(f32_to_bf16(x[i]))))
        << k.name << " x bits " << std::hex << bits_of(x[i]);
  std::vector<float> nan = {std::numeric_limits<float>::quiet_NaN(), from_bits(0x7f800001u), from_bits(0xffc00001u)};
  k.round_bf16(nan.data(), nan.data(), 3);  // in place
  for (float v : nan) EXPECT_TRUE(std::isnan(v)) << k.name;
}

// interleave_bf16: two rows rounded as f32_to_bf16 and interleaved, tail included.
void check_interleave(const Kernels& k) {
  std::mt19937 g(5);
  std::uniform_real_distribution<float> d(-3, 3);
  for (int64_t n : {1, 15, 16, 33, 64}) {
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    for (auto& v : a) v = d(g);
    for (auto& v : b) v = d(g);
    std::vector<uint16_t> y(static_cast<size_t>(2 * n + 2), 0xabcd);
    k.interleave_bf16(a.data(), b.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(y[static_cast<size_t>(2 * i)], f32_to_bf16(a[static_cast<size_t>(i)])) << k.name << " n=" << n;
      ASSERT_EQ(y[static_cast<size_t>(2 * i + 1)], f32_to_bf16(b[static_cast<size_t>(i)])) << k.name << " n=" << n;
    }
    EXPECT_EQ(y[static_cast<size_t>(2 * n)], 0xabcd) << k.name << ": wrote past the end";
  }
}

TEST(RoundBf16, GenericMatchesScalar) {
  check(generic_kernels());
  check_interleave(generic_kernels());
}

TEST(RoundBf16, Avx512MatchesScalar) {
  const Kernels* k = avx512_kernels();
  if (!k) GTEST_SKIP() << "no AVX-512 here";
  check(*k);
  check_interleave(*k);
}

}  // namespace
}  // namespace ia::cpu
