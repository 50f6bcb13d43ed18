#include "core/tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

namespace ia {
namespace {

std::vector<float> iota(int n) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

// Element at a multi-index of a strided f32 tensor.
float at(const Tensor& t, std::initializer_list<int64_t> idx) {
  int64_t off = 0;
  size_t k = 0;
  for (int64_t i : idx) off += i * t.strides()[k++];
  return t.data<float>()[off];
}

void expect_internal_error(const std::function<void()>& fn) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Internal) << e.what();
  }
}

TEST(Shape, Helpers) {
  EXPECT_EQ(shape_str({2, 3, 4}), "[2, 3, 4]");
  EXPECT_EQ(shape_str({}), "[]");
  EXPECT_EQ(shape_numel({2, 3, 4}), 24);
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_numel({5, 0}), 0);
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (Shape{12, 4, 1}));
  EXPECT_EQ(contiguous_strides({}), Shape{});
}

TEST(Tensor, FactoriesAndMetadata) {
  Tensor t = Tensor::from_vector(iota(6), {2, 3});
  EXPECT_TRUE(t.defined());
  EXPECT_FALSE(Tensor().defined());
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_EQ(t.dim(), 2);
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.size(-1), 3);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(t.device().is_cpu());
  EXPECT_EQ(t.describe(), "f32[2, 3] cpu");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
  expect_internal_error([&] { (void)t.size(2); });
  expect_internal_error([&] { (void)t.size(-3); });

  Tensor z = Tensor::zeros({3, 2}, DType::BF16);
  EXPECT_EQ(z.nbytes(), 12u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(z.data<uint16_t>()[i], 0);
  EXPECT_EQ(z.describe(), "bf16[3, 2] cpu");

  Tensor ids = Tensor::from_vector(std::vector<int64_t>{1, -2, 3}, {3});
  EXPECT_EQ(ids.dtype(), DType::I64);
  EXPECT_EQ(ids.data<int64_t>()[1], -2);

  expect_internal_error([] { (void)Tensor::from_vector(iota(5), {2, 3}); });
  expect_internal_error([] { (void)Tensor::empty({2, -1}, DType::F32); });
}

TEST(Tensor, View) {
  Tensor t = Tensor::from_vector(iota(6), {2, 3});
  Tensor v = t.view({3, -1});
  EXPECT_EQ(v.shape(), (Shape{3, 2}));
  EXPECT_EQ(v.strides(), (Shape{2, 1}));
  EXPECT_EQ(v.raw(), t.raw());  // shares storage
  EXPECT_EQ(v.storage(), t.storage());
  EXPECT_EQ(at(v, {2, 1}), 5.0f);
  v.data<float>()[0] = 42.0f;
  EXPECT_EQ(t.data<float>()[0], 42.0f);
  EXPECT_EQ(t.view({-1}).shape(), Shape{6});
  EXPECT_EQ(t.view({1, 6, 1}).shape(), (Shape{1, 6, 1}));

  expect_internal_error([&] { (void)t.view({4, -1}); });   // 6 is not divisible by 4
  expect_internal_error([&] { (void)t.view({-1, -1}); });  // two inferred dims
  expect_internal_error([&] { (void)t.view({7}); });
  expect_internal_error([&] { (void)t.view({-2, -3}); });             // negative sizes other than -1
  expect_internal_error([&] { (void)t.transpose(0, 1).view({6}); });  // not contiguous

  // A view of an offset (narrowed, still contiguous) tensor keeps the offset.
  Tensor row = t.narrow(0, 1, 1);
  EXPECT_TRUE(row.is_contiguous());
  Tensor flat = row.view({3});
  EXPECT_EQ(flat.offset_bytes(), 12u);
  EXPECT_EQ(flat.to_f32_vector(), (std::vector<float>{3, 4, 5}));

  Tensor empty = Tensor::empty({0, 3}, DType::F32);
  EXPECT_EQ(empty.view({-1, 3}).shape(), (Shape{0, 3}));
}

TEST(Tensor, Select) {
  Tensor t = Tensor::from_vector(iota(24), {2, 3, 4});
  Tensor s0 = t.select(0, 1);
  EXPECT_EQ(s0.shape(), (Shape{3, 4}));
  EXPECT_EQ(s0.strides(), (Shape{4, 1}));
  EXPECT_EQ(s0.offset_bytes(), 12u * 4);
  EXPECT_TRUE(s0.is_contiguous());
  EXPECT_EQ(at(s0, {0, 0}), 12.0f);
  EXPECT_EQ(at(s0, {2, 3}), 23.0f);

  Tensor s1 = t.select(1, 2);  // t[:, 2, :]
  EXPECT_EQ(s1.shape(), (Shape{2, 4}));
  EXPECT_EQ(s1.strides(), (Shape{12, 1}));
  EXPECT_FALSE(s1.is_contiguous());
  EXPECT_EQ(s1.to_f32_vector(), (std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23}));

  Tensor s2 = t.select(-1, 3);  // t[:, :, 3]
  EXPECT_EQ(s2.shape(), (Shape{2, 3}));
  EXPECT_EQ(s2.to_f32_vector(), (std::vector<float>{3, 7, 11, 15, 19, 23}));

  Tensor scalar = t.select(0, 1).select(0, 2).select(0, 0);
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(scalar.to_f32_vector(), std::vector<float>{20});

  expect_internal_error([&] { (void)t.select(0, 2); });
  expect_internal_error([&] { (void)t.select(1, -1); });
  expect_internal_error([&] { (void)t.select(3, 0); });
}

TEST(Tensor, Narrow) {
  Tensor t = Tensor::from_vector(iota(12), {3, 4});
  Tensor n = t.narrow(1, 1, 2);  // t[:, 1:3]
  EXPECT_EQ(n.shape(), (Shape{3, 2}));
  EXPECT_EQ(n.strides(), (Shape{4, 1}));
  EXPECT_EQ(n.offset_bytes(), 4u);
  EXPECT_FALSE(n.is_contiguous());
  EXPECT_EQ(n.to_f32_vector(), (std::vector<float>{1, 2, 5, 6, 9, 10}));

  Tensor r = t.narrow(-2, 2, 1);  // t[2:3, :]
  EXPECT_TRUE(r.is_contiguous());
  EXPECT_EQ(r.to_f32_vector(), (std::vector<float>{8, 9, 10, 11}));

  Tensor nn = n.narrow(0, 1, 2).narrow(1, 1, 1);  // t[1:3, 2:3]
  EXPECT_EQ(nn.shape(), (Shape{2, 1}));
  EXPECT_EQ(nn.to_f32_vector(), (std::vector<float>{6, 10}));

  EXPECT_EQ(t.narrow(1, 4, 0).numel(), 0);  // empty slice at the end is allowed
  EXPECT_TRUE(t.narrow(1, 4, 0).clone().to_f32_vector().empty());
  expect_internal_error([&] { (void)t.narrow(1, 3, 2); });
  expect_internal_error([&] { (void)t.narrow(0, -1, 1); });
  expect_internal_error([&] { (void)t.narrow(2, 0, 1); });
}

TEST(Tensor, TransposeAndContiguous) {
  Tensor t = Tensor::from_vector(iota(6), {2, 3});
  Tensor tt = t.transpose(0, 1);
  EXPECT_EQ(tt.shape(), (Shape{3, 2}));
  EXPECT_EQ(tt.strides(), (Shape{1, 3}));
  EXPECT_EQ(tt.raw(), t.raw());
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.to_f32_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));

  Tensor c = tt.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.raw(), t.raw());
  EXPECT_EQ(c.shape(), (Shape{3, 2}));
  EXPECT_EQ(c.strides(), (Shape{2, 1}));
  std::vector<float> got(c.data<float>(), c.data<float>() + 6);
  EXPECT_EQ(got, (std::vector<float>{0, 3, 1, 4, 2, 5}));
  // contiguous() of a contiguous tensor is the same view, no copy.
  EXPECT_EQ(t.contiguous().raw(), t.raw());
  // Transposing twice gives back a contiguous layout.
  EXPECT_TRUE(tt.transpose(-1, -2).is_contiguous());
  expect_internal_error([&] { (void)t.transpose(0, 2); });

  // 3-d: t3[i][j][k] = 12i + 4j + k; x = t3.transpose(0, 2)[k][j][i], then narrow and select.
  Tensor t3 = Tensor::from_vector(iota(24), {2, 3, 4});
  Tensor x = t3.transpose(0, 2).narrow(0, 1, 2).select(1, 2);  // x[a][i] = t3[i][2][1 + a]
  EXPECT_EQ(x.shape(), (Shape{2, 2}));
  std::vector<float> want;
  for (int a = 0; a < 2; ++a) {
    for (int i = 0; i < 2; ++i) want.push_back(static_cast<float>(12 * i + 4 * 2 + 1 + a));
  }
  EXPECT_EQ(x.contiguous().to_f32_vector(), want);
  EXPECT_EQ(x.to_f32_vector(), want);

  // Size-1 dims with odd strides still count as contiguous.
  Tensor odd(t.storage(), 0, {1, 6}, {999, 1}, DType::F32);
  EXPECT_TRUE(odd.is_contiguous());
}

TEST(Tensor, CloneIsDeep) {
  Tensor t = Tensor::from_vector(iota(6), {2, 3});
  Tensor c = t.clone();
  EXPECT_NE(c.storage(), t.storage());
  EXPECT_EQ(c.shape(), t.shape());
  t.data<float>()[1] = -1.0f;
  EXPECT_EQ(c.data<float>()[1], 1.0f);

  Tensor nc = t.transpose(0, 1).clone();  // strided source -> contiguous copy
  EXPECT_TRUE(nc.is_contiguous());
  EXPECT_EQ(nc.to_f32_vector(), (std::vector<float>{0, 3, -1, 4, 2, 5}));

  Tensor h = Tensor::from_vector(iota(4), {2, 2}).to(DType::F16);
  Tensor hc = h.transpose(0, 1).clone();
  EXPECT_EQ(hc.dtype(), DType::F16);
  EXPECT_EQ(hc.to_f32_vector(), (std::vector<float>{0, 2, 1, 3}));
}

TEST(Tensor, ToBF16RoundsToNearestEven) {
  std::vector<float> src;
  for (uint32_t b : {0x3f808000u, 0x3f818000u, 0x3f808001u, 0x3f807fffu, 0x7f7fffffu, 0xbf818000u}) {
    float f;
    std::memcpy(&f, &b, 4);
    src.push_back(f);
  }
  const std::vector<uint16_t> want = {0x3f80, 0x3f82, 0x3f81, 0x3f80, 0x7f80, 0xbf82};
  Tensor t = Tensor::from_vector(src, {2, 3});
  Tensor b = t.to(DType::BF16);  // contiguous fast path
  EXPECT_EQ(b.dtype(), DType::BF16);
  ASSERT_EQ(b.numel(), 6);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(b.data<uint16_t>()[i], want[static_cast<size_t>(i)]) << i;

  Tensor bt = t.transpose(0, 1).to(DType::BF16);  // strided generic path, same rounding
  const std::vector<uint16_t> want_t = {want[0], want[3], want[1], want[4], want[2], want[5]};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(bt.data<uint16_t>()[i], want_t[static_cast<size_t>(i)]) << i;

  // Back to f32 is exact.
  std::vector<float> back = b.to_f32_vector();
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], 1.015625f);  // 0x3f82
  EXPECT_TRUE(std::isinf(back[4]));
  EXPECT_EQ(b.transpose(0, 1).to(DType::F32).to_f32_vector(),
            (std::vector<float>{back[0], back[3], back[1], back[4], back[2], back[5]}));
}

TEST(Tensor, ToF16RoundTrips) {
  const float unit = std::ldexp(1.0f, -24);
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> src = {1.0f,     0.1f,
                            65504.0f, 65520.0f,
                            unit,     1023 * unit,
                            unit / 2, 3 * unit / 2,
                            -inf,     std::numeric_limits<float>::quiet_NaN(),
                            -0.0f,    1.0f + std::ldexp(1.0f, -11)};
  const std::vector<uint16_t> want = {0x3c00, 0x2e66, 0x7bff, 0x7c00, 0x0001, 0x03ff,
                                      0x0000, 0x0002, 0xfc00, 0x7e00, 0x8000, 0x3c00};
  Tensor t = Tensor::from_vector(src, {12});
  Tensor h = t.to(DType::F16);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(h.data<uint16_t>()[i], want[i]) << i;
  std::vector<float> back = h.to_f32_vector();
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], 0.0999755859375f);
  EXPECT_EQ(back[2], 65504.0f);
  EXPECT_EQ(back[3], inf);
  EXPECT_EQ(back[4], unit);
  EXPECT_EQ(back[5], 1023 * unit);
  EXPECT_EQ(back[6], 0.0f);
  EXPECT_EQ(back[7], 2 * unit);
  EXPECT_EQ(back[8], -inf);
  EXPECT_TRUE(std::isnan(back[9]));
  EXPECT_TRUE(std::signbit(back[10]));
  // Every f16 value survives f16 -> f32 -> f16 through tensors.
  std::vector<float> all;
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    float f = f16_to_f32(static_cast<uint16_t>(b));
    if (!std::isnan(f)) all.push_back(f);
  }
  Tensor a = Tensor::from_vector(all, {static_cast<int64_t>(all.size())});
  EXPECT_EQ(a.to(DType::F16).to(DType::F32).to_f32_vector(), all);
}

TEST(Tensor, ToBetweenReducedFloats) {
  // bf16 0x3f81 = 1 + 2^-7: exact in f16 (0x3c08).
  Tensor b = Tensor::zeros({3}, DType::BF16);
  b.data<uint16_t>()[0] = 0x3f81;
  b.data<uint16_t>()[1] = 0xc040;  // -3.0
  b.data<uint16_t>()[2] = 0x7f80;  // inf
  Tensor h = b.to(DType::F16);
  EXPECT_EQ(h.data<uint16_t>()[0], 0x3c08);
  EXPECT_EQ(h.data<uint16_t>()[1], 0xc200);
  EXPECT_EQ(h.data<uint16_t>()[2], 0x7c00);
  // f16 1 + 3*2^-10 is below half a bf16 step (2^-8) above 1 -> 1.0; 1 + 6*2^-10 is above -> 0x3f81.
  Tensor h2 = Tensor::zeros({2}, DType::F16);
  h2.data<uint16_t>()[0] = 0x3c03;
  h2.data<uint16_t>()[1] = 0x3c06;
  Tensor b2 = h2.to(DType::BF16);
  EXPECT_EQ(b2.data<uint16_t>()[0], 0x3f80);
  EXPECT_EQ(b2.data<uint16_t>()[1], 0x3f81);
  // f64 -> f32 rounds; same dtype returns the same storage when contiguous.
  Tensor d = Tensor::empty({2}, DType::F64);
  d.data<double>()[0] = 0.1;
  d.data<double>()[1] = -1e300;
  std::vector<float> f = d.to_f32_vector();
  EXPECT_EQ(f[0], 0.1f);
  EXPECT_EQ(f[1], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(d.to(DType::F64).raw(), d.raw());
}

TEST(Tensor, ToIntegerTypes) {
  // float -> int truncates toward zero (as torch does).
  Tensor t = Tensor::from_vector(std::vector<float>{2.7f, -2.7f, 0.0f, 100.0f}, {4});
  Tensor i = t.to(DType::I32);
  EXPECT_EQ(i.data<int32_t>()[0], 2);
  EXPECT_EQ(i.data<int32_t>()[1], -2);
  EXPECT_EQ(i.data<int32_t>()[3], 100);
  Tensor bl = Tensor::from_vector(std::vector<float>{0.0f, 0.5f, -1.0f, -0.0f}, {4}).to(DType::Bool);
  EXPECT_EQ(bl.data<uint8_t>()[0], 0);
  EXPECT_EQ(bl.data<uint8_t>()[1], 1);
  EXPECT_EQ(bl.data<uint8_t>()[2], 1);
  EXPECT_EQ(bl.data<uint8_t>()[3], 0);

  // i64 -> i64/i32 keeps exact values beyond 2^53; i64 -> f64 rounds to nearest.
  const int64_t big = (int64_t{1} << 53) + 1;
  Tensor l = Tensor::from_vector(std::vector<int64_t>{big, -5, 7}, {3});
  EXPECT_EQ(l.to(DType::I64).data<int64_t>()[0], big);
  EXPECT_EQ(l.to(DType::F64).data<double>()[0], 9007199254740992.0);
  Tensor l32 = Tensor::from_vector(std::vector<int64_t>{123456789, -5, 7}, {3}).to(DType::I32);
  EXPECT_EQ(l32.data<int32_t>()[0], 123456789);
  EXPECT_EQ(l32.data<int32_t>()[1], -5);
  EXPECT_EQ(l32.to(DType::I64).data<int64_t>()[0], 123456789);

  // Integer narrowing wraps modulo 2^bits, as torch does (300 -> 44 in u8/i8, -1 -> 255 in u8).
  Tensor w = Tensor::from_vector(std::vector<int64_t>{300, -1, 128, -129}, {4});
  Tensor u8 = w.to(DType::U8);
  EXPECT_EQ(u8.data<uint8_t>()[0], 44);
  EXPECT_EQ(u8.data<uint8_t>()[1], 255);
  EXPECT_EQ(u8.data<uint8_t>()[2], 128);
  EXPECT_EQ(u8.data<uint8_t>()[3], 127);
  Tensor i8 = w.to(DType::I32).to(DType::I8);
  EXPECT_EQ(i8.data<int8_t>()[0], 44);
  EXPECT_EQ(i8.data<int8_t>()[1], -1);
  EXPECT_EQ(i8.data<int8_t>()[2], -128);
  EXPECT_EQ(i8.data<int8_t>()[3], 127);
  Tensor i16 = Tensor::from_vector(std::vector<int64_t>{70000, -70000}, {2}).to(DType::I16);
  EXPECT_EQ(i16.data<int16_t>()[0], 4464);
  EXPECT_EQ(i16.data<int16_t>()[1], -4464);
  Tensor bl2 = Tensor::from_vector(std::vector<int64_t>{0, 256, -1}, {3}).to(DType::Bool);
  EXPECT_EQ(bl2.data<uint8_t>()[0], 0);
  EXPECT_EQ(bl2.data<uint8_t>()[1], 1);  // nonzero is true, not 256 mod 256
  EXPECT_EQ(bl2.data<uint8_t>()[2], 1);

  // u8 / bool -> f32; strided int source.
  Tensor u = Tensor::zeros({2, 2}, DType::U8);
  u.data<uint8_t>()[0] = 200;
  u.data<uint8_t>()[1] = 1;
  u.data<uint8_t>()[2] = 2;
  u.data<uint8_t>()[3] = 255;
  EXPECT_EQ(u.transpose(0, 1).to_f32_vector(), (std::vector<float>{200, 2, 1, 255}));
  Tensor lt = Tensor::from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1).to(DType::I32);
  std::vector<int32_t> got(lt.data<int32_t>(), lt.data<int32_t>() + 6);
  EXPECT_EQ(got, (std::vector<int32_t>{1, 4, 2, 5, 3, 6}));
}

}  // namespace
}  // namespace ia
