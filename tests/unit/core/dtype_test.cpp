#include "core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/cpu_info.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ia {
namespace {

float f32_from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::F64), 8u);
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::F16), 2u);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(dtype_size(DType::I64), 8u);
  EXPECT_EQ(dtype_size(DType::I32), 4u);
  EXPECT_EQ(dtype_size(DType::I16), 2u);
  EXPECT_EQ(dtype_size(DType::I8), 1u);
  EXPECT_EQ(dtype_size(DType::U8), 1u);
  EXPECT_EQ(dtype_size(DType::Bool), 1u);
  EXPECT_STREQ(dtype_name(DType::BF16), "bf16");
  EXPECT_STREQ(dtype_name(DType::F32), "f32");
  EXPECT_STREQ(dtype_name(DType::Bool), "bool");
  EXPECT_TRUE(is_float(DType::F16));
  EXPECT_TRUE(is_float(DType::BF16));
  EXPECT_FALSE(is_float(DType::I64));
  EXPECT_FALSE(is_float(DType::Bool));
}

TEST(DType, Parse) {
  DType t = DType::Bool;
  EXPECT_TRUE(parse_dtype("bf16", &t));
  EXPECT_EQ(t, DType::BF16);
  EXPECT_TRUE(parse_dtype("BF16", &t));
  EXPECT_EQ(t, DType::BF16);
  EXPECT_TRUE(parse_dtype("F16", &t));
  EXPECT_EQ(t, DType::F16);
  EXPECT_TRUE(parse_dtype("I64", &t));
  EXPECT_EQ(t, DType::I64);
  EXPECT_TRUE(parse_dtype("BOOL", &t));
  EXPECT_EQ(t, DType::Bool);
  t = DType::U8;
  EXPECT_FALSE(parse_dtype("float32", &t));
  EXPECT_FALSE(parse_dtype("", &t));
  EXPECT_FALSE(parse_dtype("Bf16", &t));
  EXPECT_EQ(t, DType::U8);  // untouched on failure
  for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32, DType::I16, DType::I8,
                  DType::U8, DType::Bool}) {
    DType back = DType::F32;
    EXPECT_TRUE(parse_dtype(dtype_name(d), &back)) << dtype_name(d);
    EXPECT_EQ(back, d);
  }
}

// ---- bf16 ----------------------------------------------------------------

TEST(BF16, ExactValues) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_bf16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0x4049), 3.140625f);
  EXPECT_EQ(bits_of(bf16_to_f32(0x8000)), 0x80000000u);
}

TEST(BF16, RoundToNearestEven) {
  // 1 + 2^-8 lies exactly halfway between 0x3f80 (even) and 0x3f81: stays even.
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808000u)), 0x3f80);
  // 0x3f81 is odd: the tie goes up to 0x3f82.
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f818000u)), 0x3f82);
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f808001u)), 0x3f81);  // just above the tie
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3f807fffu)), 0x3f80);  // just below
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0xbf818000u)), 0xbf82);  // sign symmetric
  // pi = 0x40490fdb -> 0x4049; 0.1f = 0x3dcccccd -> 0x3dcd.
  EXPECT_EQ(f32_to_bf16(3.14159265f), 0x4049);
  EXPECT_EQ(f32_to_bf16(0.1f), 0x3dcd);
  // A carry through the mantissa into the exponent: 0x3fffffff (just under 2) -> 2.0.
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3fffffffu)), 0x4000);
  // f32 subnormals round like any other bits.
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x00008000u)), 0x0000);
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x00018000u)), 0x0002);
}

TEST(BF16, InfNaNOverflow) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f32_to_bf16(inf), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-inf), 0xff80);
  // FLT_MAX rounds up past the largest bf16 (0x7f7f) to inf, as torch does.
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x7f7f7fffu)), 0x7f7f);
  // NaN stays NaN, even when its payload sits only in the bits that get dropped.
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x7fc00000u)), 0x7fc0);
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0x7f800001u)), 0x7fc0);
  EXPECT_EQ(f32_to_bf16(f32_from_bits(0xff800001u)), 0xffc0);
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7f81)));
  EXPECT_TRUE(std::isinf(bf16_to_f32(0xff80)));
}

TEST(BF16, RoundTripAllValues) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f)))) << std::hex << h;
    } else {
      ASSERT_EQ(f32_to_bf16(f), h) << std::hex << h;
    }
  }
}

// ---- f16 -----------------------------------------------------------------

TEST(F16, ExactValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(0.5f), 0x3800);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);  // largest finite f16
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(bits_of(f16_to_f32(0x8000)), 0x80000000u);
  // 0.1f: exponent -4, mantissa 0x266, dropped bits below half -> 0x2e66 = 0.0999755859375.
  EXPECT_EQ(f32_to_f16(0.1f), 0x2e66);
  EXPECT_EQ(f16_to_f32(0x2e66), 0.0999755859375f);
}

TEST(F16, RoundToNearestEven) {
  const float ulp1 = std::ldexp(1.0f, -10);                    // f16 spacing in [1, 2)
  EXPECT_EQ(f32_to_f16(1.0f + ulp1 / 2), 0x3c00);              // tie, 0x3c00 even
  EXPECT_EQ(f32_to_f16(1.0f + 3 * ulp1 / 2), 0x3c02);          // tie, 0x3c01 odd -> up
  EXPECT_EQ(f32_to_f16(1.0f + ulp1 / 2 + ulp1 / 64), 0x3c01);  // above the tie
  EXPECT_EQ(f32_to_f16(-(1.0f + 3 * ulp1 / 2)), 0xbc02);
  EXPECT_EQ(f32_to_f16(2.0f - std::ldexp(1.0f, -12)), 0x4000);  // carry into the exponent
  // Overflow: 65519 rounds down to 65504; 65520 is the tie with 65536 (even) -> inf.
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e6f), 0xfc00);
}

TEST(F16, Subnormals) {
  const float unit = std::ldexp(1.0f, -24);  // smallest f16 subnormal
  EXPECT_EQ(f16_to_f32(0x0001), unit);
  EXPECT_EQ(f16_to_f32(0x03ff), 1023 * unit);            // largest subnormal
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(f16_to_f32(0x8001), -unit);
  EXPECT_EQ(f32_to_f16(unit), 0x0001);
  EXPECT_EQ(f32_to_f16(5 * unit), 0x0005);
  EXPECT_EQ(f32_to_f16(unit / 2), 0x0000);            // tie between 0 and 1 -> 0 (even)
  EXPECT_EQ(f32_to_f16(unit / 2 * 1.0001f), 0x0001);  // above the tie
  EXPECT_EQ(f32_to_f16(3 * unit / 2), 0x0002);        // tie between 1 and 2 -> 2
  EXPECT_EQ(f32_to_f16(5 * unit / 2), 0x0002);        // tie between 2 and 3 -> 2
  EXPECT_EQ(f32_to_f16(unit / 4), 0x0000);
  EXPECT_EQ(f32_to_f16(-unit / 4), 0x8000);       // underflow keeps the sign
  EXPECT_EQ(f32_to_f16(1023.5f * unit), 0x0400);  // rounds up into the smallest normal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
}

TEST(F16, InfNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f32_to_f16(inf), 0x7c00);
  EXPECT_EQ(f32_to_f16(-inf), 0xfc00);
  EXPECT_EQ(f16_to_f32(0x7c00), inf);
  EXPECT_EQ(f16_to_f32(0xfc00), -inf);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7c01)));  // signalling NaN stays NaN
  const uint16_t qnan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(qnan & 0x7c00, 0x7c00);
  EXPECT_NE(qnan & 0x03ff, 0);
  // A NaN whose payload is only in the low f32 bits must not become inf.
  EXPECT_EQ(f32_to_f16(f32_from_bits(0x7f800001u)), 0x7e00);
  EXPECT_EQ(f32_to_f16(f32_from_bits(0xff800001u)), 0xfe00);
}

TEST(F16, RoundTripAllValues) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f)))) << std::hex << h;
    } else {
      ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
    }
  }
}

#if defined(__x86_64__)
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wc99-extensions"  // clang's _cvtss_sh macro uses a compound literal
#endif
__attribute__((target("f16c"))) uint16_t hw_f32_to_f16(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
__attribute__((target("f16c"))) float hw_f16_to_f32(uint16_t h) {
  return _cvtsh_ss(h);
}

// Cross-check against the F16C instructions over a sweep of the f32 bit patterns.
TEST(F16, MatchesF16CInstructions) {
  if (!cpu_features().f16c) GTEST_SKIP() << "no F16C on this CPU";
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    float a = f16_to_f32(static_cast<uint16_t>(h));
    float b = hw_f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(a)) {
      ASSERT_TRUE(std::isnan(b));
    } else {
      ASSERT_EQ(bits_of(a), bits_of(b)) << std::hex << h;
    }
  }
  for (uint64_t x = 0; x <= 0xffffffffull; x += 997) {
    float f = f32_from_bits(static_cast<uint32_t>(x));
    uint16_t ours = f32_to_f16(f);
    uint16_t hw = hw_f32_to_f16(f);
    if (std::isnan(f)) {
      ASSERT_TRUE((ours & 0x7c00) == 0x7c00 && (ours & 0x3ff) != 0) << std::hex << x;
    } else {
      ASSERT_EQ(ours, hw) << std::hex << "f32 bits 0x" << x;
    }
  }
}
#endif

}  // namespace
}  // namespace ia
