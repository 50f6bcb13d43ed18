// The shared model layers against f64 references computed here from the same
// random weights: Norm (LayerNorm, RMSNorm), Linear (both weight layouts,
// stacked matrices), Mlp (plain, gated; T5's ReLU and gated-gelu), Attention
// (bidirectional and causal over packed sequences, GQA, window, rotary, q/k
// norm, T5's relative position bias, DETR's positions added to q/k; the paged cache path equal to the step
// path; cross-attention over a CrossKvCache) and Block (pre- and post-norm),
// driven by steps the runtime's StepBuilder makes, as models run them.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "models/cross_kv_cache.h"
#include "models/kv_cache.h"
#include "models/layers/attention.h"
#include "models/layers/block.h"
#include "models/layers/linear.h"
#include "models/layers/mlp.h"
#include "models/layers/norm.h"
#include "models/layers/relative_position_bias.h"
#include "models/rope.h"
#include "runtime/step_builder.h"
#include "unit/formats/formats_test_util.h"

namespace ia {
namespace {

using Vec = std::vector<double>;

Tensor random_tensor(const Shape& shape, std::mt19937& rng, float scale, float offset = 0) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  Tensor t = Tensor::empty(shape, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = offset + scale * d(rng);
  return t;
}

Vec values(const Tensor& t) {
  Tensor c = t.to(DType::F32).contiguous();
  return Vec(c.data<float>(), c.data<float>() + c.numel());
}

// Weights written to a real safetensors folder, read back through a WeightStore as a model would.
class Weights {
 public:
  Tensor add(const std::string& name, const Shape& shape, float scale = 0.3f, float offset = 0) {
    Tensor t = random_tensor(shape, rng_, scale, offset);
    tensors_.emplace_back(name, t);
    return t;
  }
  WeightSource open(WeightLayout layout = WeightLayout::OutIn) {
    write_safetensors(dir_.file("model.safetensors"), tensors_);
    store_ = WeightStore::open(dir_.path());
    return WeightSource(*store_, "", DType::F32, Device::cpu(), layout);
  }
  std::mt19937& rng() { return rng_; }

 private:
  test::TempDir dir_;
  std::mt19937 rng_{42};
  std::vector<std::pair<std::string, Tensor>> tensors_;
  std::shared_ptr<WeightStore> store_;
};

// y[r, o] = sum_i x[r, i] w[o, i] (+ b[o]); x [R, in]
Vec linear_ref(const Vec& x, const Vec& w, const Vec* b, int64_t in, int64_t out) {
  const int64_t R = static_cast<int64_t>(x.size()) / in;
  Vec y(static_cast<size_t>(R * out));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = b ? (*b)[static_cast<size_t>(o)] : 0.0;
      for (int64_t i = 0; i < in; ++i) acc += x[static_cast<size_t>(r * in + i)] * w[static_cast<size_t>(o * in + i)];
      y[static_cast<size_t>(r * out + o)] = acc;
    }
  return y;
}

Vec norm_ref(const Vec& x, const Vec& w, const Vec* b, int64_t H, bool rms, double eps) {
  Vec y(x.size());
  for (size_t r = 0; r < x.size() / static_cast<size_t>(H); ++r) {
    const double* row = &x[r * static_cast<size_t>(H)];
    double mean = 0, var = 0;
    if (!rms)
      for (int64_t i = 0; i < H; ++i) mean += row[i] / static_cast<double>(H);
    for (int64_t i = 0; i < H; ++i) var += (row[i] - mean) * (row[i] - mean) / static_cast<double>(H);
    for (int64_t i = 0; i < H; ++i)
      y[r * static_cast<size_t>(H) + static_cast<size_t>(i)] =
          (row[i] - mean) / std::sqrt(var + eps) * w[static_cast<size_t>(i)] + (b ? (*b)[static_cast<size_t>(i)] : 0.0);
  }
  return y;
}

double gelu(double v) {
  return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
}
double silu(double v) {
  return v / (1 + std::exp(-v));
}

Vec add(Vec a, const Vec& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

void expect_close(const Vec& got, const Vec& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
  EXPECT_LE(worst, tol) << what;
}

TEST(Layers, NormLayerAndRms) {
  Weights w;
  const int64_t H = 8;
  Vec lw = values(w.add("ln.weight", {H}, 0.2f, 1.0f)), lb = values(w.add("ln.bias", {H}));
  Vec rw = values(w.add("rms.weight", {H}, 0.2f, 1.0f));
  WeightSource src = w.open();
  Tensor x = random_tensor({5, H}, w.rng(), 2.0f, 0.5f);
  Norm ln = Norm::load(src, "ln", H, {NormKind::LayerNorm, true, 1e-5f});
  Norm rms = Norm::load(src, "rms", H, {NormKind::RmsNorm, false, 1e-6f});
  expect_close(values(ln(x)), norm_ref(values(x), lw, &lb, H, false, 1e-5), 1e-5, "layer norm");
  expect_close(values(rms(x)), norm_ref(values(x), rw, nullptr, H, true, 1e-6), 1e-5, "rms norm");
}

TEST(Layers, LinearBothLayoutsAndStackedMatrices) {
  Weights w;
  const int64_t in = 6;
  Vec a = values(w.add("a.weight", {4, in})), ab = values(w.add("a.bias", {4}));
  Vec b = values(w.add("b.weight", {2, in})), bb = values(w.add("b.bias", {2}));
  Vec c = values(w.add("c.weight", {in, 3}));  // Conv1D layout [in, out]
  Tensor x = random_tensor({3, in}, w.rng(), 1.0f);
  WeightSource src = w.open();
  Linear fused = Linear::load(src, {"a", "b"}, {4, 2}, in, true);
  // One GEMM gives both projections side by side.
  Vec want_a = linear_ref(values(x), a, &ab, in, 4), want_b = linear_ref(values(x), b, &bb, in, 2), want;
  for (int64_t r = 0; r < 3; ++r) {
    want.insert(want.end(), want_a.begin() + r * 4, want_a.begin() + r * 4 + 4);
    want.insert(want.end(), want_b.begin() + r * 2, want_b.begin() + r * 2 + 2);
  }
  expect_close(values(fused(x)), want, 1e-5, "stacked linear");
  WeightSource conv(src.store(), "", DType::F32, Device::cpu(), WeightLayout::InOut);
  Vec ct(static_cast<size_t>(3 * in));  // [out, in]
  for (int64_t i = 0; i < in; ++i)
    for (int64_t o = 0; o < 3; ++o) ct[static_cast<size_t>(o * in + i)] = c[static_cast<size_t>(i * 3 + o)];
  expect_close(values(Linear::load(conv, "c", 3, in, false)(x)), linear_ref(values(x), ct, nullptr, in, 3), 1e-5,
               "Conv1D layout");
}

TEST(Layers, MlpPlainAndGated) {
  Weights w;
  const int64_t H = 4, I = 6;
  Vec up = values(w.add("up.weight", {I, H})), upb = values(w.add("up.bias", {I}));
  Vec gate = values(w.add("gate.weight", {I, H})), gateb = values(w.add("gate.bias", {I}));
  Vec down = values(w.add("down.weight", {H, I})), downb = values(w.add("down.bias", {H}));
  Tensor x = random_tensor({3, H}, w.rng(), 1.0f), res = random_tensor({3, H}, w.rng(), 1.0f);
  WeightSource src = w.open();
  Mlp plain = Mlp::load(src, "", {nullptr, "up", "down"}, {MlpKind::Plain, Activation::GeluErf, H, I, true});
  Vec h = linear_ref(values(x), up, &upb, H, I);
  for (auto& v : h) v = gelu(v);
  expect_close(values(plain(x, &res)), add(linear_ref(h, down, &downb, I, H), values(res)), 1e-5, "plain mlp");
  Mlp gated = Mlp::load(src, "", {"gate", "up", "down"}, {MlpKind::Gated, Activation::Silu, H, I, true});
  Vec g = linear_ref(values(x), gate, &gateb, H, I), u = linear_ref(values(x), up, &upb, H, I);
  for (size_t i = 0; i < g.size(); ++i) g[i] = silu(g[i]) * u[i];
  expect_close(values(gated(x, nullptr)), linear_ref(g, down, &downb, I, H), 1e-5, "gated mlp");
}

// softmax(q k^T * scale) v per sequence and head; q [T, Hq, D], k/v [T, Hkv, D].
Vec attention_ref(const Vec& q, const Vec& k, const Vec& v, const std::vector<int64_t>& lens, int64_t Hq, int64_t Hkv,
                  int64_t D, bool causal, int64_t window) {
  Vec out(q.size());
  int64_t start = 0;
  for (int64_t n : lens) {
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t kh = h / (Hq / Hkv);
      for (int64_t i = 0; i < n; ++i) {
        std::vector<double> s;
        std::vector<int64_t> js;
        for (int64_t j = 0; j < n; ++j) {
          if (causal && (j > i || (window > 0 && j <= i - window))) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += q[static_cast<size_t>(((start + i) * Hq + h) * D + d)] *
                   k[static_cast<size_t>(((start + j) * Hkv + kh) * D + d)];
          s.push_back(dot / std::sqrt(static_cast<double>(D)));
          js.push_back(j);
        }
        double mx = *std::max_element(s.begin(), s.end()), sum = 0;
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (size_t m = 0; m < js.size(); ++m)
            acc += s[m] / sum * v[static_cast<size_t>(((start + js[m]) * Hkv + kh) * D + d)];
          out[static_cast<size_t>(((start + i) * Hq + h) * D + d)] = acc;
        }
      }
    }
    start += n;
  }
  return out;
}

struct AttentionCase {
  bool causal;
  int64_t window;
  bool rotary;
  bool qk_norm;
};

class AttentionLayer : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionLayer, MatchesTheF64ReferenceOverPackedSequences) {
  const AttentionCase p = GetParam();
  const int64_t H = 8, Hq = 4, Hkv = 2, D = 4;
  Weights w;
  Vec q = values(w.add("q.weight", {Hq * D, H})), k = values(w.add("k.weight", {Hkv * D, H}));
  Vec v = values(w.add("v.weight", {Hkv * D, H})), o = values(w.add("o.weight", {H, Hq * D}));
  Vec qb = values(w.add("q.bias", {Hq * D})), kb = values(w.add("k.bias", {Hkv * D})),
      vb = values(w.add("v.bias", {Hkv * D}));
  Vec qn = values(w.add("qn.weight", {D}, 0.2f, 1.0f)), kn = values(w.add("kn.weight", {D}, 0.2f, 1.0f));
  WeightSource src = w.open();
  AttentionSpec spec;
  spec.hidden = H;
  spec.heads = Hq;
  spec.kv_heads = Hkv;
  spec.head_dim = D;
  spec.mask = p.causal ? AttentionMask::Causal : AttentionMask::Bidirectional;
  spec.positions = p.rotary ? PositionKind::Rotary : PositionKind::None;
  spec.qkv_bias = true;
  spec.qk_norm = p.qk_norm;
  spec.window = p.window;
  Attention attn = Attention::load(src, "", {"q", "k", "v", nullptr, "o", "qn", "kn"}, spec);

  const std::vector<int64_t> lens = {5, 1, 7};
  const int64_t T = 13;
  Tensor x = random_tensor({T, H}, w.rng(), 1.0f);
  std::vector<std::vector<int32_t>> ids;
  for (int64_t n : lens) ids.emplace_back(static_cast<size_t>(n), 1);
  std::vector<std::span<const int32_t>> spans(ids.begin(), ids.end());
  StepBuilder builder(Device::cpu());
  StepInputs step = builder.encoder_step(spans, {}, 10);
  BlockContext ctx;
  ctx.step = &step;
  RopeConfig rope;
  rope.rotary_dim = D;
  RotaryEmbedding rotary(rope, 64, Device::cpu());
  RotaryTables tables;
  if (p.rotary) {
    tables = rotary.for_step(step);
    ctx.rotary = &tables;
  }
  Vec got = values(attn(x, ctx, nullptr));

  Vec xq = linear_ref(values(x), q, &qb, H, Hq * D), xk = linear_ref(values(x), k, &kb, H, Hkv * D);
  Vec xv = linear_ref(values(x), v, &vb, H, Hkv * D);
  if (p.qk_norm) {
    xq = norm_ref(xq, qn, nullptr, D, true, 1e-6);
    xk = norm_ref(xk, kn, nullptr, D, true, 1e-6);
  }
  if (p.rotary) {  // rotate_half with theta 10000 at each token's position in its sequence
    auto rotate = [&](Vec& t, int64_t heads) {
      int64_t row = 0;
      for (int64_t n : lens)
        for (int64_t pos = 0; pos < n; ++pos, ++row)
          for (int64_t h = 0; h < heads; ++h)
            for (int64_t i = 0; i < D / 2; ++i) {
              const double f = static_cast<double>(pos) * std::pow(10000.0, -2.0 * static_cast<double>(i) / D);
              double& a = t[static_cast<size_t>((row * heads + h) * D + i)];
              double& b = t[static_cast<size_t>((row * heads + h) * D + i + D / 2)];
              const double a0 = a, b0 = b;
              a = a0 * std::cos(f) - b0 * std::sin(f);
              b = b0 * std::cos(f) + a0 * std::sin(f);
            }
    };
    rotate(xq, Hq);
    rotate(xk, Hkv);
  }
  Vec a = attention_ref(xq, xk, xv, lens, Hq, Hkv, D, p.causal, p.window);
  expect_close(got, linear_ref(a, o, nullptr, Hq * D, H), 2e-5, "attention");

  if (p.causal) {
    // The same tokens through the paged cache (as a causal LM runs them) give the same output.
    spec.kv = KvSource::PagedCache;
    Attention paged = Attention::load(src, "", {"q", "k", "v", nullptr, "o", "qn", "kn"}, spec);
    KvCache cache(1, Hkv, D, 4, 16, Device::cpu());
    std::vector<SeqChunk> chunks;
    for (const auto& s : ids) chunks.push_back({cache.create_sequence(), s});
    KvCache::Reservation r;
    StepInputs cstep = builder.causal_step(chunks, cache, 10, OutputRows::All, r);
    BlockContext cctx = ctx;
    cctx.step = &cstep;
    cctx.cache = &cache;
    if (p.rotary) {
      tables = rotary.for_step(cstep);
      cctx.rotary = &tables;
    }
    expect_close(values(paged(x, cctx, nullptr)), got, 1e-5, "paged attention");
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, AttentionLayer,
                         ::testing::Values(AttentionCase{false, 0, false, false}, AttentionCase{true, 0, false, false},
                                           AttentionCase{true, 3, false, false}, AttentionCase{true, 0, true, true},
                                           AttentionCase{false, 0, true, false}));

class BlockLayer : public ::testing::TestWithParam<bool> {};

TEST_P(BlockLayer, PreAndPostNormComposeTheLayers) {
  const bool pre = GetParam();
  const int64_t H = 8, NH = 2, D = 4, I = 12;
  Weights w;
  Vec qkv = values(w.add("l0.qkv.weight", {3 * H, H})), qkvb = values(w.add("l0.qkv.bias", {3 * H}));
  Vec o = values(w.add("l0.o.weight", {H, H})), ob = values(w.add("l0.o.bias", {H}));
  Vec n1 = values(w.add("l0.n1.weight", {H}, 0.2f, 1.0f)), n1b = values(w.add("l0.n1.bias", {H}));
  Vec n2 = values(w.add("l0.n2.weight", {H}, 0.2f, 1.0f)), n2b = values(w.add("l0.n2.bias", {H}));
  Vec up = values(w.add("l0.up.weight", {I, H})), upb = values(w.add("l0.up.bias", {I}));
  Vec down = values(w.add("l0.down.weight", {H, I})), downb = values(w.add("l0.down.bias", {H}));
  WeightSource src = w.open();
  BlockSpec spec;
  spec.pre_norm = pre;
  spec.norm = {NormKind::LayerNorm, true, 1e-5f};
  spec.attention = AttentionSpec{};
  spec.attention.hidden = H;
  spec.attention.heads = spec.attention.kv_heads = NH;
  spec.attention.head_dim = D;
  spec.attention.mask = AttentionMask::Bidirectional;
  spec.attention.qkv_bias = spec.attention.o_bias = true;
  spec.mlp = {MlpKind::Plain, Activation::GeluErf, H, I, true};
  const BlockWeightNames names = {"l{}.",
                                  "n1",
                                  {nullptr, nullptr, nullptr, "qkv", "o", nullptr, nullptr},
                                  nullptr,
                                  {},
                                  "n2",
                                  {nullptr, "up", "down"}};
  Block block = Block::load(src, 0, names, spec);
  const std::vector<int64_t> lens = {3, 4};
  Tensor x = random_tensor({7, H}, w.rng(), 1.0f);
  std::vector<int32_t> a(3, 1), b(4, 1);
  StepBuilder builder(Device::cpu());
  StepInputs step = builder.encoder_step({a, b}, {}, 10);
  BlockContext ctx;
  ctx.step = &step;
  Vec got = values(block(x, ctx));

  auto attention = [&](const Vec& in) {
    Vec p = linear_ref(in, qkv, &qkvb, H, 3 * H), q, k, v;
    for (int64_t t = 0; t < 7; ++t) {
      auto row = p.begin() + t * 3 * H;
      q.insert(q.end(), row, row + H);
      k.insert(k.end(), row + H, row + 2 * H);
      v.insert(v.end(), row + 2 * H, row + 3 * H);
    }
    return linear_ref(attention_ref(q, k, v, lens, NH, NH, D, false, 0), o, &ob, H, H);
  };
  auto mlp = [&](const Vec& in) {
    Vec h = linear_ref(in, up, &upb, H, I);
    for (auto& e : h) e = gelu(e);
    return linear_ref(h, down, &downb, I, H);
  };
  Vec xs = values(x), want;
  if (pre) {
    Vec h = add(xs, attention(norm_ref(xs, n1, &n1b, H, false, 1e-5)));
    want = add(h, mlp(norm_ref(h, n2, &n2b, H, false, 1e-5)));
  } else {
    Vec h = norm_ref(add(xs, attention(xs)), n1, &n1b, H, false, 1e-5);
    want = norm_ref(add(h, mlp(h)), n2, &n2b, H, false, 1e-5);
  }
  expect_close(got, want, 3e-5, pre ? "pre-norm block" : "post-norm block");
}

INSTANTIATE_TEST_SUITE_P(Norms, BlockLayer, ::testing::Values(true, false));

// T5's relative position buckets (transformers' T5Attention._relative_position_bucket) at
// distances worked out by hand from the formula: exact below max_exact, then
// max_exact + floor(log(n / max_exact) / log(max_distance / max_exact) * (buckets - max_exact)),
// capped at buckets - 1; bidirectional gives keys after the query the upper half.
TEST(Layers, RelativePositionBucketsFromTheFormula) {
  // Bidirectional, 32 buckets, max distance 128: 16 per direction, max_exact 8,
  // log(n / 8) / log(16) * 8.
  const std::vector<std::pair<int64_t, int64_t>> bidirectional = {
      {0, 0},     {-1, 1},    {1, 17},   {-7, 7},     {7, 23},    {-8, 8},   {8, 24},
      {-16, 10},  {16, 26},   {-20, 10}, {20, 26},    {-32, 12},  {-64, 14}, {-100, 15},
      {-127, 15}, {-128, 15}, {128, 31}, {-1000, 15}, {1000, 31}, {-11, 8},  {11, 24}};
  for (auto [d, want] : bidirectional)
    EXPECT_EQ(relative_position_bucket(d, true, 32, 128), want) << "bidirectional distance " << d;
  // Unidirectional (a decoder: keys at or before the query), 32 buckets, max distance 128:
  // max_exact 16, log(n / 16) / log(8) * 16; every key after the query is bucket 0.
  const std::vector<std::pair<int64_t, int64_t>> causal = {{0, 0},     {5, 0},     {1000, 0},  {-1, 1},    {-5, 5},
                                                           {-15, 15},  {-16, 16},  {-24, 19},  {-32, 21},  {-64, 26},
                                                           {-100, 30}, {-127, 31}, {-128, 31}, {-5000, 31}};
  for (auto [d, want] : causal)
    EXPECT_EQ(relative_position_bucket(d, false, 32, 128), want) << "unidirectional distance " << d;
  // The fixture's decoder (32 buckets, max distance 64): log(n / 16) / log(4) * 16, exact at
  // n = 32 (8.0 in f32 too).
  EXPECT_EQ(relative_position_bucket(-32, false, 32, 64), 24);
  EXPECT_EQ(relative_position_bucket(-48, false, 32, 64), 28);  // log(3)/log(4)*16 = 12.68
  EXPECT_EQ(relative_position_bucket(-64, false, 32, 64), 31);
  // Past max_distance a bucket no longer changes: the clamped distance table is exact.
  for (bool bi : {true, false})
    for (int64_t d : {129, 200, 4096}) {
      EXPECT_EQ(relative_position_bucket(-d, bi, 32, 128), relative_position_bucket(-128, bi, 32, 128));
      EXPECT_EQ(relative_position_bucket(d, bi, 32, 128), relative_position_bucket(128, bi, 32, 128));
    }
}

TEST(Layers, RelativeBiasDistanceTableGathersTheBuckets) {
  Weights w;
  const RelativeBiasSpec spec{3, 8, 10, true};
  Tensor weight = w.add("rel.weight", {spec.num_buckets, spec.heads});
  WeightSource src = w.open();
  RelativePositionBias bias = RelativePositionBias::load(src, "rel", spec);
  ASSERT_EQ(bias.table().shape(), (Shape{3, 21}));
  EXPECT_EQ(bias.max_distance(), 10);
  for (int64_t h = 0; h < 3; ++h)
    for (int64_t d = -10; d <= 10; ++d)
      EXPECT_EQ(bias.table().data<float>()[h * 21 + d + 10],
                weight.data<float>()[relative_position_bucket(d, true, 8, 10) * 3 + h])
          << "head " << h << " distance " << d;
}

// Attention with a relative position bias added to unscaled scores (T5): bidirectional over
// packed sequences (an encoder) and causal, also through the paged cache (a decoder), against
// softmax(q k^T + bias[bucket(j - i)]) v in f64.
TEST(Layers, RelativeBiasAttentionMatchesTheF64Reference) {
  const int64_t H = 8, NH = 2, D = 4;
  const RelativeBiasSpec enc_spec{NH, 8, 6, true}, dec_spec{NH, 8, 6, false};
  Weights w;
  Vec q = values(w.add("q.weight", {NH * D, H})), k = values(w.add("k.weight", {NH * D, H}));
  Vec v = values(w.add("v.weight", {NH * D, H})), o = values(w.add("o.weight", {H, NH * D}));
  Vec rel = values(w.add("rel.weight", {8, NH}, 1.0f));
  WeightSource src = w.open();
  const std::vector<int64_t> lens = {9, 1, 12};  // distances past max_distance 6: clamped
  const int64_t T = 22;
  Tensor x = random_tensor({T, H}, w.rng(), 1.0f);
  std::vector<std::vector<int32_t>> ids;
  for (int64_t n : lens) ids.emplace_back(static_cast<size_t>(n), 1);
  std::vector<std::span<const int32_t>> spans(ids.begin(), ids.end());
  Vec xq = linear_ref(values(x), q, nullptr, H, NH * D), xk = linear_ref(values(x), k, nullptr, H, NH * D);
  Vec xv = linear_ref(values(x), v, nullptr, H, NH * D);
  for (bool causal : {false, true}) {
    const RelativeBiasSpec& bspec = causal ? dec_spec : enc_spec;
    AttentionSpec spec;
    spec.hidden = H;
    spec.heads = spec.kv_heads = NH;
    spec.head_dim = D;
    spec.scale = 1.0f;
    spec.positions = PositionKind::RelativeBias;
    spec.mask = causal ? AttentionMask::Causal : AttentionMask::Bidirectional;
    Attention attn = Attention::load(src, "", {"q", "k", "v", nullptr, "o", nullptr, nullptr}, spec);
    RelativePositionBias bias = RelativePositionBias::load(src, "rel", bspec);
    StepBuilder builder(Device::cpu());
    StepInputs step = builder.encoder_step(spans, {}, 10);
    BlockContext ctx;
    ctx.step = &step;
    ctx.position_bias = &bias.table();
    Vec got = values(attn(x, ctx, nullptr));

    Vec a(xq.size());
    int64_t start = 0;
    for (int64_t n : lens) {
      for (int64_t h = 0; h < NH; ++h)
        for (int64_t i = 0; i < n; ++i) {
          std::vector<double> sc;
          for (int64_t j = 0; j < (causal ? i + 1 : n); ++j) {
            double dot = 0;
            for (int64_t d = 0; d < D; ++d)
              dot += xq[static_cast<size_t>(((start + i) * NH + h) * D + d)] *
                     xk[static_cast<size_t>(((start + j) * NH + h) * D + d)];
            const int64_t b =
                relative_position_bucket(j - i, bspec.bidirectional, bspec.num_buckets, bspec.max_distance);
            sc.push_back(dot + rel[static_cast<size_t>(b * NH + h)]);  // scale 1
          }
          double mx = *std::max_element(sc.begin(), sc.end()), sum = 0;
          for (auto& e : sc) sum += (e = std::exp(e - mx));
          for (int64_t d = 0; d < D; ++d) {
            double acc = 0;
            for (size_t j = 0; j < sc.size(); ++j)
              acc += sc[j] / sum * xv[static_cast<size_t>(((start + static_cast<int64_t>(j)) * NH + h) * D + d)];
            a[static_cast<size_t>(((start + i) * NH + h) * D + d)] = acc;
          }
        }
      start += n;
    }
    const Vec want = linear_ref(a, o, nullptr, NH * D, H);
    expect_close(got, want, 2e-5, causal ? "causal relative-bias attention" : "bidirectional relative-bias attention");
    if (!causal) continue;
    // A decoder runs the same through the paged cache: the prompts at once, then token by token.
    spec.kv = KvSource::PagedCache;
    Attention paged = Attention::load(src, "", {"q", "k", "v", nullptr, "o", nullptr, nullptr}, spec);
    KvCache cache(1, NH, D, 4, 32, Device::cpu());
    std::vector<SeqChunk> chunks;
    for (const auto& s : ids) chunks.push_back({cache.create_sequence(), s});
    KvCache::Reservation r;
    StepInputs cstep = builder.causal_step(chunks, cache, 10, OutputRows::All, r);
    BlockContext cctx = ctx;
    cctx.step = &cstep;
    cctx.cache = &cache;
    expect_close(values(paged(x, cctx, nullptr)), want, 2e-5, "paged relative-bias attention");
    KvCache one_by_one(1, NH, D, 4, 32, Device::cpu());
    const int64_t seq = one_by_one.create_sequence();
    for (int64_t t = 0; t < lens[0]; ++t) {
      std::vector<SeqChunk> c1 = {{seq, std::span<const int32_t>(ids[0]).subspan(static_cast<size_t>(t), 1)}};
      StepInputs s1 = builder.causal_step(c1, one_by_one, 10, OutputRows::All, r);
      BlockContext c = ctx;
      c.step = &s1;
      c.cache = &one_by_one;
      Vec row = values(paged(x.narrow(0, t, 1), c, nullptr));
      expect_close(row, Vec(want.begin() + t * H, want.begin() + (t + 1) * H), 2e-5, "decode-step relative bias");
    }
  }
}

// Cross-attention (KvSource::CrossCache): K/V of two encoder sequences projected once into a
// CrossKvCache; three decoder sequences (two attending to the same encoder sequence, as beams
// do) attend to every row of theirs, against f64.
TEST(Layers, CrossAttentionReadsTheCrossCache) {
  const int64_t H = 8, Hq = 4, Hkv = 2, D = 4;
  Weights w;
  Vec q = values(w.add("q.weight", {Hq * D, H})), k = values(w.add("k.weight", {Hkv * D, H}));
  Vec v = values(w.add("v.weight", {Hkv * D, H})), o = values(w.add("o.weight", {H, Hq * D}));
  WeightSource src = w.open();
  AttentionSpec spec;
  spec.hidden = H;
  spec.heads = Hq;
  spec.kv_heads = Hkv;
  spec.head_dim = D;
  spec.mask = AttentionMask::Bidirectional;
  spec.kv = KvSource::CrossCache;
  Attention attn = Attention::load(src, "", {"q", "k", "v", nullptr, "o", nullptr, nullptr}, spec);

  const std::vector<int64_t> enc_lens = {5, 3};
  Tensor enc = random_tensor({8, H}, w.rng(), 1.0f);
  CrossKvCache cross;
  auto [ck, cv] = attn.project_kv(enc);
  cross.k = {ck};
  cross.v = {cv};
  cross.starts = {0, 5, 8};
  const std::vector<int64_t> dec_lens = {2, 1, 3}, dec_enc = {0, 1, 0};
  Tensor x = random_tensor({6, H}, w.rng(), 1.0f);
  std::vector<std::vector<int32_t>> ids;
  for (int64_t n : dec_lens) ids.emplace_back(static_cast<size_t>(n), 1);
  KvCache cache(1, Hkv, D, 4, 8, Device::cpu());
  std::vector<SeqChunk> chunks;
  for (size_t s = 0; s < ids.size(); ++s) chunks.push_back({cache.create_sequence(), ids[s], dec_enc[s]});
  StepBuilder builder(Device::cpu());
  KvCache::Reservation r;
  StepInputs step = builder.causal_step(chunks, cache, 10, OutputRows::All, r, 0, &cross);
  BlockContext ctx;
  ctx.step = &step;
  Vec got = values(attn(x, ctx, nullptr));

  Vec xq = linear_ref(values(x), q, nullptr, H, Hq * D), ek = linear_ref(values(enc), k, nullptr, H, Hkv * D);
  Vec ev = linear_ref(values(enc), v, nullptr, H, Hkv * D), a(xq.size());
  int64_t row = 0;
  for (size_t s = 0; s < dec_lens.size(); ++s) {
    const int64_t e0 = cross.starts[static_cast<size_t>(dec_enc[s])], n = enc_lens[static_cast<size_t>(dec_enc[s])];
    for (int64_t i = 0; i < dec_lens[s]; ++i, ++row)
      for (int64_t h = 0; h < Hq; ++h) {
        const int64_t kh = h / (Hq / Hkv);
        std::vector<double> sc;
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += xq[static_cast<size_t>((row * Hq + h) * D + d)] *
                   ek[static_cast<size_t>(((e0 + j) * Hkv + kh) * D + d)];
          sc.push_back(dot / std::sqrt(static_cast<double>(D)));
        }
        double mx = *std::max_element(sc.begin(), sc.end()), sum = 0;
        for (auto& e : sc) sum += (e = std::exp(e - mx));
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < n; ++j)
            acc += sc[static_cast<size_t>(j)] / sum * ev[static_cast<size_t>(((e0 + j) * Hkv + kh) * D + d)];
          a[static_cast<size_t>((row * Hq + h) * D + d)] = acc;
        }
      }
  }
  expect_close(got, linear_ref(a, o, nullptr, Hq * D, H), 2e-5, "cross-attention");

  // A step without the cross cache is refused, not run against nothing.
  KvCache::Reservation r2;
  StepInputs bare = builder.causal_step({{cache.create_sequence(), ids[0]}}, cache, 10, OutputRows::All, r2);
  BlockContext bctx;
  bctx.step = &bare;
  EXPECT_THROW(attn(x.narrow(0, 0, 2), bctx, nullptr), Error);
  // An encoder sequence the cache does not have is refused by the step builder.
  KvCache::Reservation r3;
  EXPECT_THROW(builder.causal_step({{cache.create_sequence(), ids[0], 2}}, cache, 10, OutputRows::All, r3, 0, &cross),
               Error);
}

// T5's feed-forward: v1.0 ReLU (wi, wo) and v1.1 gated gelu_new (wi_0, wi_1, wo), no biases.
TEST(Layers, T5FeedForwardVariants) {
  Weights w;
  const int64_t H = 6, I = 10;
  Vec wi = values(w.add("wi.weight", {I, H})), wi0 = values(w.add("wi_0.weight", {I, H}));
  Vec wi1 = values(w.add("wi_1.weight", {I, H})), wo = values(w.add("wo.weight", {H, I}));
  WeightSource src = w.open();
  Tensor x = random_tensor({4, H}, w.rng(), 2.0f);
  Mlp relu = Mlp::load(src, "", {nullptr, "wi", "wo"}, {MlpKind::Plain, Activation::Relu, H, I, false});
  Vec h = linear_ref(values(x), wi, nullptr, H, I);
  for (auto& e : h) e = std::max(e, 0.0);
  expect_close(values(relu(x, nullptr)), linear_ref(h, wo, nullptr, I, H), 1e-5, "relu feed-forward");
  Mlp geglu = Mlp::load(src, "", {"wi_0", "wi_1", "wo"}, {MlpKind::Gated, Activation::GeluTanh, H, I, false});
  Vec g = linear_ref(values(x), wi0, nullptr, H, I), u = linear_ref(values(x), wi1, nullptr, H, I);
  for (size_t i = 0; i < g.size(); ++i)
    g[i] = 0.5 * g[i] * (1 + std::tanh(std::sqrt(2 / M_PI) * (g[i] + 0.044715 * g[i] * g[i] * g[i]))) * u[i];
  expect_close(values(geglu(x, nullptr)), linear_ref(g, wo, nullptr, I, H), 1e-5, "gated-gelu feed-forward");
}

// DETR's attention (PositionKind::QueryKey): position rows added to the inputs of q and k, never
// of v; in cross-attention the queries get the step's positions and the keys the encoder rows'.
TEST(Layers, QueryKeyPositionsReachQAndKButNotV) {
  const int64_t H = 8, Hq = 2, D = 4;
  Weights w;
  Vec q = values(w.add("q.weight", {Hq * D, H})), k = values(w.add("k.weight", {Hq * D, H}));
  Vec v = values(w.add("v.weight", {Hq * D, H})), o = values(w.add("o.weight", {H, Hq * D}));
  Vec qb = values(w.add("q.bias", {Hq * D})), kb = values(w.add("k.bias", {Hq * D})),
      vb = values(w.add("v.bias", {Hq * D}));
  WeightSource src = w.open();
  AttentionSpec spec;
  spec.hidden = H;
  spec.heads = spec.kv_heads = Hq;
  spec.head_dim = D;
  spec.mask = AttentionMask::Bidirectional;
  spec.positions = PositionKind::QueryKey;
  spec.qkv_bias = true;
  const AttentionWeightNames names{"q", "k", "v", nullptr, "o", nullptr, nullptr};
  Attention self = Attention::load(src, "", names, spec);

  // Self-attention over two packed sequences (an encoder over two images' feature rows).
  const std::vector<int64_t> lens = {5, 3};
  Tensor x = random_tensor({8, H}, w.rng(), 1.0f), pos = random_tensor({8, H}, w.rng(), 1.0f);
  StepInputs step;
  step.query_start = Tensor::from_vector(std::vector<int64_t>{0, 5, 8}, {3}).to(DType::I32);
  BlockContext ctx;
  ctx.step = &step;
  ctx.query_key_positions = &pos;
  const Vec xp = add(values(x), values(pos));
  Vec a = attention_ref(linear_ref(xp, q, &qb, H, Hq * D), linear_ref(xp, k, &kb, H, Hq * D),
                        linear_ref(values(x), v, &vb, H, Hq * D), lens, Hq, Hq, D, false, 0);
  expect_close(values(self(x, ctx, nullptr)), linear_ref(a, o, nullptr, Hq * D, H), 2e-5, "self-attention");
  BlockContext bare = ctx;
  bare.query_key_positions = nullptr;
  EXPECT_THROW(self(x, bare, nullptr), Error);  // positions are required, never silently left out

  // Cross-attention: 3 queries of image 0 see its 5 encoder rows, 2 of image 1 its 3.
  spec.kv = KvSource::CrossCache;
  Attention cross_attn = Attention::load(src, "", names, spec);
  Tensor enc = random_tensor({8, H}, w.rng(), 1.0f), enc_pos = random_tensor({8, H}, w.rng(), 1.0f);
  CrossKvCache cache;
  auto [ck, cv] = cross_attn.project_kv(enc, &enc_pos);
  cache.k = {ck};
  cache.v = {cv};
  cache.starts = {0, 5, 8};
  EXPECT_THROW(cross_attn.project_kv(enc), Error);
  Tensor y = random_tensor({5, H}, w.rng(), 1.0f), qpos = random_tensor({5, H}, w.rng(), 1.0f);
  StepInputs dec;
  dec.query_start = Tensor::from_vector(std::vector<int64_t>{0, 3, 5}, {3}).to(DType::I32);
  dec.cross = &cache;
  dec.cross_ranges = Tensor::from_vector(std::vector<int64_t>{0, 5, 5, 8}, {2, 2}).to(DType::I32);
  BlockContext dctx;
  dctx.step = &dec;
  dctx.query_key_positions = &qpos;
  const Vec yq = linear_ref(add(values(y), values(qpos)), q, &qb, H, Hq * D);
  const Vec ek = linear_ref(add(values(enc), values(enc_pos)), k, &kb, H, Hq * D);
  const Vec ev = linear_ref(values(enc), v, &vb, H, Hq * D);
  Vec ca(yq.size());
  const int64_t q0[] = {0, 3, 5}, e0[] = {0, 5, 8};
  for (int s = 0; s < 2; ++s)
    for (int64_t r = q0[s]; r < q0[s + 1]; ++r)
      for (int64_t h = 0; h < Hq; ++h) {
        std::vector<double> sc;
        for (int64_t j = e0[s]; j < e0[s + 1]; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += yq[static_cast<size_t>((r * Hq + h) * D + d)] * ek[static_cast<size_t>((j * Hq + h) * D + d)];
          sc.push_back(dot / std::sqrt(static_cast<double>(D)));
        }
        double mx = *std::max_element(sc.begin(), sc.end()), sum = 0;
        for (auto& e : sc) sum += (e = std::exp(e - mx));
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = e0[s]; j < e0[s + 1]; ++j)
            acc += sc[static_cast<size_t>(j - e0[s])] / sum * ev[static_cast<size_t>((j * Hq + h) * D + d)];
          ca[static_cast<size_t>((r * Hq + h) * D + d)] = acc;
        }
      }
  expect_close(values(cross_attn(y, dctx, nullptr)), linear_ref(ca, o, nullptr, Hq * D, H), 2e-5, "cross-attention");
}

TEST(Layers, CrossAttentionVariantsThatDoNotExistAreRefusedAtLoad) {
  Weights w;
  w.add("qkv.weight", {24, 8});
  w.add("o.weight", {8, 8});
  WeightSource src = w.open();
  AttentionSpec spec;
  spec.hidden = 8;
  spec.heads = spec.kv_heads = 2;
  spec.head_dim = 4;
  spec.kv = KvSource::CrossCache;
  // A fused q|k|v cannot be split into the step's q and the encoder's k|v.
  EXPECT_THROW(Attention::load(src, "", {nullptr, nullptr, nullptr, "qkv", "o", nullptr, nullptr}, spec), Error);
  spec.positions = PositionKind::Rotary;
  EXPECT_THROW(Attention::load(src, "", {"q", "k", "v", nullptr, "o", nullptr, nullptr}, spec), Error);
}

}  // namespace
}  // namespace ia
