// The device-neutral ops layer: shapes, dtypes, errors, views.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "ops/ops.h"

namespace ia {
namespace {

Tensor seq(const Shape& s, float scale = 0.01f) {
  Tensor t = Tensor::empty(s, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = scale * static_cast<float>((i * 37) % 101 - 50);
  return t;
}

TEST(Ops, LinearShapesAndBatchDims) {
  Tensor x = seq({2, 3, 8}), w = seq({5, 8}), b = seq({5});
  Tensor y = ops::linear(x, w, &b);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 5}));
  // Row 4 equals a hand computation.
  double acc = b.data<float>()[2];
  for (int k = 0; k < 8; ++k) acc += static_cast<double>(x.data<float>()[4 * 8 + k]) * w.data<float>()[2 * 8 + k];
  EXPECT_NEAR(y.data<float>()[4 * 5 + 2], acc, 1e-6);
  // Non-contiguous x (transposed) is accepted.
  Tensor xt = seq({8, 6}).transpose(0, 1);
  EXPECT_EQ(ops::linear(xt, w, nullptr).shape(), (Shape{6, 5}));
}

TEST(Ops, LinearErrors) {
  Tensor x = seq({2, 8}), w = seq({5, 7});
  EXPECT_THROW(ops::linear(x, w, nullptr), Error);
  Tensor w2 = seq({5, 8}), b = seq({4});
  EXPECT_THROW(ops::linear(x, w2, &b), Error);
  Tensor wf16 = w2.to(DType::F16);
  try {
    ops::linear(x, wf16, nullptr);
    FAIL() << "f16 weights accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  }
}

TEST(Ops, LinearBf16Weights) {
  Tensor x = seq({4, 16}), w = seq({3, 16}).to(DType::BF16);
  Tensor y = ops::linear(x, w, nullptr);
  Tensor yf = ops::linear(x, w.to(DType::F32), nullptr);
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_NEAR(y.data<float>()[i], yf.data<float>()[i], 1e-2);
}

TEST(Ops, MatMul2DAnd3D) {
  Tensor a = seq({3, 4}), b = seq({4, 5});
  EXPECT_EQ(ops::matmul(a, b).shape(), (Shape{3, 5}));
  Tensor bt = seq({5, 4});
  EXPECT_EQ(ops::matmul(a, bt, true).shape(), (Shape{3, 5}));
  EXPECT_THROW(ops::matmul(a, bt), Error);
  EXPECT_EQ(ops::matmul(seq({2, 3, 4}), seq({2, 4, 6})).shape(), (Shape{2, 3, 6}));
  EXPECT_THROW(ops::matmul(seq({2, 3, 4}), seq({3, 4, 6})), Error);
}

TEST(Ops, LayerNormAcceptsBf16Params) {
  Tensor x = seq({2, 6}), w = seq({6}).to(DType::BF16), b = seq({6}).to(DType::BF16);
  Tensor y = ops::layer_norm(x, w, &b, 1e-5f);
  Tensor y2 = ops::layer_norm(x, w.to(DType::F32), &b, 1e-5f);
  EXPECT_EQ(y.to_f32_vector(), y2.to_f32_vector());
  EXPECT_THROW(ops::layer_norm(x, seq({5}), nullptr, 1e-5f), Error);
}

TEST(Ops, AddBroadcastRules) {
  Tensor a = seq({2, 3, 4});
  EXPECT_EQ(ops::add(a, seq({4})).shape(), a.shape());
  EXPECT_EQ(ops::add(a, seq({3, 4})).shape(), a.shape());
  EXPECT_THROW(ops::add(a, seq({3})), Error);
  EXPECT_THROW(ops::add(seq({4}), a), Error);
}

TEST(Ops, AttentionChecksAndFusedViews) {
  const int64_t B = 2, S = 5, H = 3, D = 4;
  Tensor qkv = seq({B, S, 3 * H * D}, 0.05f).view({B, S, 3, H, D});
  Tensor q = qkv.select(2, 0), k = qkv.select(2, 1), v = qkv.select(2, 2);
  Tensor mask = Tensor::from_vector(std::vector<int64_t>{1, 1, 1, 0, 0, 1, 1, 1, 1, 1}, {B, S});
  Tensor out = ops::attention(q, k, v, &mask, AttentionParams{0.5f, false});
  EXPECT_EQ(out.shape(), (Shape{B, S, H, D}));
  for (float f : out.to_f32_vector()) EXPECT_TRUE(std::isfinite(f));
  Tensor bad_mask = Tensor::from_vector(std::vector<int64_t>{1, 1, 1, 1}, {2, 2});
  EXPECT_THROW(ops::attention(q, k, v, &bad_mask, AttentionParams{}), Error);
  EXPECT_THROW(ops::attention(q, seq({B, S, H, D + 1}), v, nullptr, AttentionParams{}), Error);
}

TEST(Ops, VarlenAttentionShapesViewsAndErrors) {
  // q/k/v as narrow views of one fused [T, Hq + 2 Hkv, D] projection; the result is [T, Hq, D].
  const int64_t T = 7, Hq = 4, Hkv = 2, D = 8;
  Tensor qkv = seq({T, Hq + 2 * Hkv, D});
  Tensor q = qkv.narrow(1, 0, Hq), k = qkv.narrow(1, Hq, Hkv), v = qkv.narrow(1, Hq + Hkv, Hkv);
  Tensor starts = Tensor::from_vector(std::vector<int64_t>{0, 3, 7}, {3}).to(DType::I32);
  VarlenAttentionParams p;
  p.scale = 0.5f;
  Tensor out = ops::varlen_attention(q, k, v, starts, p);
  EXPECT_EQ(out.shape(), (Shape{T, Hq, D}));
  // Row 3 opens the second sequence; causal, it sees only itself: out = v of its kv head.
  p.causal = true;
  Tensor oc = ops::varlen_attention(q, k, v, starts, p);
  for (int64_t h = 0; h < Hq; ++h)
    for (int64_t d = 0; d < D; ++d)
      EXPECT_FLOAT_EQ(oc.data<float>()[(3 * Hq + h) * D + d], v.contiguous().data<float>()[(3 * Hkv + h / 2) * D + d]);
  // i64 starts are accepted as well.
  EXPECT_EQ(ops::varlen_attention(q, k, v, starts.to(DType::I64), p).shape(), (Shape{T, Hq, D}));
  auto rejects = [&](const Tensor& qq, const Tensor& kk, const Tensor& vv, const Tensor& st,
                     const VarlenAttentionParams& pp) {
    EXPECT_THROW(ops::varlen_attention(qq, kk, vv, st, pp), Error);
  };
  rejects(q, qkv.narrow(1, 0, 3), qkv.narrow(1, 3, 3), starts, p);          // 4 query heads over 3 kv heads
  rejects(q, k, qkv.narrow(1, 0, 1), starts, p);                            // v unlike k
  rejects(q.narrow(0, 0, 6), k, v, starts, p);                              // rows disagree
  rejects(q, k, v, Tensor::from_vector(std::vector<float>{0, 7}, {2}), p);  // float starts
  VarlenAttentionParams windowed = p;
  windowed.causal = false;
  windowed.window = 2;  // a window needs causal attention
  rejects(q, k, v, starts, windowed);
  try {
    ops::varlen_attention(q, k, v, Tensor::from_vector(std::vector<int64_t>{0, 5, 3}, {3}), p);
    FAIL() << "descending query_start accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
  }
}

TEST(Ops, LinearBf16OutputNeedsBf16Weights) {
  Tensor x = seq({3, 32}), w = seq({16, 32});
  LinearEpilogue gelu;
  gelu.has_activation = true;
  try {
    ops::linear(x, w, nullptr, gelu, DType::BF16);
    FAIL() << "bf16 output with f32 weights accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
  }
  Tensor y = ops::linear(x, w.to(DType::BF16), nullptr, gelu, DType::BF16);
  EXPECT_EQ(y.dtype(), DType::BF16);
  EXPECT_EQ(y.shape(), (Shape{3, 16}));
  // The same values as the f32 output rounded to bf16 (the few-row GEMV path rounds its f32 result).
  Tensor y32 = ops::linear(x, w.to(DType::BF16), nullptr, gelu);
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_EQ(y.data<uint16_t>()[i], f32_to_bf16(y32.data<float>()[i])) << i;
}

TEST(Ops, PoolNormalizeEmbeddingCast) {
  Tensor x = seq({2, 3, 4});
  Tensor mask = Tensor::from_vector(std::vector<int64_t>{1, 1, 0, 1, 0, 0}, {2, 3});
  Tensor p = ops::pool(PoolMode::Mean, x, mask);
  EXPECT_EQ(p.shape(), (Shape{2, 4}));
  EXPECT_NEAR(p.data<float>()[0], (x.data<float>()[0] + x.data<float>()[4]) / 2, 1e-7);
  EXPECT_NEAR(p.data<float>()[4], x.data<float>()[12], 1e-7);
  Tensor n = ops::l2_normalize(p);
  double ss = 0;
  for (int i = 0; i < 4; ++i) ss += n.data<float>()[i] * n.data<float>()[i];
  EXPECT_NEAR(ss, 1.0, 1e-6);
  Tensor table = seq({10, 4});
  Tensor ids = Tensor::from_vector(std::vector<int64_t>{3, 9}, {1, 2});
  Tensor e = ops::embedding(table, ids);
  EXPECT_EQ(e.shape(), (Shape{1, 2, 4}));
  EXPECT_EQ(e.data<float>()[4], table.data<float>()[36]);
  Tensor bad = Tensor::from_vector(std::vector<int64_t>{10}, {1});
  EXPECT_THROW(ops::embedding(table, bad), Error);
  EXPECT_THROW(ops::embedding(table, seq({2})), Error);  // f32 ids
  EXPECT_EQ(ops::cast(x, DType::BF16).dtype(), DType::BF16);
  EXPECT_EQ(ops::to_device(x, Device::cpu()).raw(), x.raw());
  EXPECT_THROW(ops::to_device(x, Device::cuda(7)), Error);
}

TEST(Ops, GeluForms) {
  Tensor x = Tensor::from_vector(std::vector<float>{-3.0f, -0.5f, 0.0f, 0.5f, 3.0f}, {5});
  Tensor g = ops::gelu(x), gt = ops::gelu_tanh(x);
  const double xs[] = {-3.0, -0.5, 0.0, 0.5, 3.0};
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(g.data<float>()[i], 0.5 * xs[i] * (1 + std::erf(xs[i] / std::sqrt(2.0))), 1e-6);
    EXPECT_NEAR(gt.data<float>()[i],
                0.5 * xs[i] * (1 + std::tanh(std::sqrt(2 / M_PI) * (xs[i] + 0.044715 * xs[i] * xs[i] * xs[i]))), 1e-6);
  }
}

}  // namespace
}  // namespace ia

namespace ia {
namespace {

TEST(Ops, OneGemmShapeOnSeveralThreadsAtOnceGivesEachItsOwnAnswer) {
  // A server embeds on one thread while its batch engine decodes on another: the same cached
  // oneDNN primitive then runs on both at once, and each must still get exactly its own result.
  const int64_t M = 48, K = 768, N = 3072;
  Tensor w = Tensor::empty({N, K}, DType::F32);
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = static_cast<float>((i * 7919) % 1009) / 1009.0f - 0.5f;
  std::vector<Tensor> xs, want;
  for (int t = 0; t < 3; ++t) {
    Tensor x = Tensor::empty({M, K}, DType::F32);
    for (int64_t i = 0; i < x.numel(); ++i)
      x.data<float>()[i] = static_cast<float>(((i + 101 * t) * 104729) % 997) / 997.0f - 0.5f;
    xs.push_back(x);
    want.push_back(ops::linear(x, w, nullptr));
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 40; ++round) {
        Tensor y = ops::linear(xs[static_cast<size_t>(t)], w, nullptr);
        if (std::memcmp(y.raw(), want[static_cast<size_t>(t)].raw(), y.nbytes()) != 0) ++mismatches;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace ia
