// DETR's parts against f64 references written here: the Hugging Face ResNet backbone with
// bottleneck layers (the fixture's backbone is basic; ResNet-50 is bottleneck) and frozen batch
// norm, the sine position embedding over a padded mask, torch's nearest mask downsampling, and
// the config checks (timm backbones and unknown variants refused by name).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "models/detr.h"
#include "models/resnet_backbone.h"
#include "unit/formats/formats_test_util.h"

namespace ia {
namespace {

using Vec = std::vector<double>;

// An image [H, W, C] in f64, channels last.
struct Image {
  int64_t H = 0, W = 0, C = 0;
  Vec v;
  double& at(int64_t y, int64_t x, int64_t c) { return v[static_cast<size_t>((y * W + x) * C + c)]; }
  double at(int64_t y, int64_t x, int64_t c) const { return v[static_cast<size_t>((y * W + x) * C + c)]; }
};

class Checkpoint {
 public:
  Tensor add(const std::string& name, const Shape& shape, double lo, double hi) {
    std::uniform_real_distribution<float> d(static_cast<float>(lo), static_cast<float>(hi));
    Tensor t = Tensor::empty(shape, DType::F32);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng_);
    tensors_.emplace_back(name, t);
    return t;
  }
  // A ResNetConvLayer's conv and batch norm; returns the f64 reference of conv -> norm.
  struct ConvNorm {
    Vec w, gamma, beta, mean, var;
    int64_t in, out, k, stride;
  };
  ConvNorm conv_norm(const std::string& p, int64_t in, int64_t out, int64_t k, int64_t stride) {
    auto vals = [](const Tensor& t) { return Vec(t.data<float>(), t.data<float>() + t.numel()); };
    ConvNorm c{vals(add(p + "convolution.weight", {out, in, k, k}, -0.5, 0.5)),
               vals(add(p + "normalization.weight", {out}, 0.7, 1.3)),
               vals(add(p + "normalization.bias", {out}, -0.3, 0.3)),
               vals(add(p + "normalization.running_mean", {out}, -0.2, 0.2)),
               vals(add(p + "normalization.running_var", {out}, 0.5, 1.5)),
               in,
               out,
               k,
               stride};
    return c;
  }
  const WeightStore& store() {
    write_safetensors(dir_.file("model.safetensors"), tensors_);
    store_ = WeightStore::open(dir_.path());
    return *store_;
  }

 private:
  test::TempDir dir_;
  std::mt19937 rng_{7};
  std::vector<std::pair<std::string, Tensor>> tensors_;
  std::shared_ptr<WeightStore> store_;
};

// conv (padding k / 2, no bias) then DetrFrozenBatchNorm2d (eps 1e-5), optionally ReLU.
Image conv_norm_ref(const Image& x, const Checkpoint::ConvNorm& c, bool relu) {
  Image y;
  const int64_t p = c.k / 2;
  y.H = (x.H + 2 * p - c.k) / c.stride + 1;
  y.W = (x.W + 2 * p - c.k) / c.stride + 1;
  y.C = c.out;
  y.v.assign(static_cast<size_t>(y.H * y.W * y.C), 0.0);
  for (int64_t oy = 0; oy < y.H; ++oy)
    for (int64_t ox = 0; ox < y.W; ++ox)
      for (int64_t o = 0; o < c.out; ++o) {
        double s = 0;
        for (int64_t i = 0; i < c.in; ++i)
          for (int64_t ky = 0; ky < c.k; ++ky)
            for (int64_t kx = 0; kx < c.k; ++kx) {
              const int64_t iy = oy * c.stride + ky - p, ix = ox * c.stride + kx - p;
              if (iy < 0 || iy >= x.H || ix < 0 || ix >= x.W) continue;
              s += x.at(iy, ix, i) * c.w[static_cast<size_t>(((o * c.in + i) * c.k + ky) * c.k + kx)];
            }
        const auto u = static_cast<size_t>(o);
        double v = (s - c.mean[u]) / std::sqrt(c.var[u] + 1e-5) * c.gamma[u] + c.beta[u];
        y.at(oy, ox, o) = relu ? std::max(v, 0.0) : v;
      }
  return y;
}

Image max_pool_ref(const Image& x) {  // 3x3, stride 2, padding 1
  Image y{(x.H + 2 - 3) / 2 + 1, (x.W + 2 - 3) / 2 + 1, x.C, {}};
  y.v.assign(static_cast<size_t>(y.H * y.W * y.C), -INFINITY);
  for (int64_t oy = 0; oy < y.H; ++oy)
    for (int64_t ox = 0; ox < y.W; ++ox)
      for (int64_t c = 0; c < x.C; ++c)
        for (int64_t iy = oy * 2 - 1; iy <= oy * 2 + 1; ++iy)
          for (int64_t ix = ox * 2 - 1; ix <= ox * 2 + 1; ++ix)
            if (iy >= 0 && iy < x.H && ix >= 0 && ix < x.W)
              y.at(oy, ox, c) = std::max(y.at(oy, ox, c), x.at(iy, ix, c));
  return y;
}

struct BottleneckCase {
  bool downsample_in_bottleneck, downsample_in_first_stage;
};

class ResNetBottleneck : public ::testing::TestWithParam<BottleneckCase> {};

TEST_P(ResNetBottleneck, MatchesTheF64Reference) {
  const BottleneckCase bc = GetParam();
  ResNetBackboneConfig cfg;
  cfg.embedding_size = 4;
  cfg.hidden_sizes = {8, 12, 16};
  cfg.depths = {2, 1, 1};
  cfg.bottleneck = true;
  cfg.downsample_in_bottleneck = bc.downsample_in_bottleneck;
  cfg.downsample_in_first_stage = bc.downsample_in_first_stage;
  cfg.out_stage = 2;  // stage 3's weights are absent: later stages are not loaded
  Checkpoint ck;
  auto stem = ck.conv_norm("embedder.embedder.", 3, 4, 7, 2);
  struct LayerRef {
    std::vector<Checkpoint::ConvNorm> convs;
    bool shortcut;
    Checkpoint::ConvNorm sc;
  };
  std::vector<LayerRef> layers;
  int64_t in = 4;
  for (int64_t s = 0; s < 2; ++s) {
    const int64_t width = cfg.hidden_sizes[static_cast<size_t>(s)], red = width / 4;
    for (int64_t l = 0; l < cfg.depths[static_cast<size_t>(s)]; ++l) {
      const std::string p = "encoder.stages." + std::to_string(s) + ".layers." + std::to_string(l) + ".";
      const int64_t lin = l == 0 ? in : width;
      const int64_t stride = l > 0 ? 1 : (s == 0 && !bc.downsample_in_first_stage ? 1 : 2);
      LayerRef r;
      r.convs.push_back(ck.conv_norm(p + "layer.0.", lin, red, 1, bc.downsample_in_bottleneck ? stride : 1));
      r.convs.push_back(ck.conv_norm(p + "layer.1.", red, red, 3, bc.downsample_in_bottleneck ? 1 : stride));
      r.convs.push_back(ck.conv_norm(p + "layer.2.", red, width, 1, 1));
      r.shortcut = lin != width || stride != 1;
      if (r.shortcut) r.sc = ck.conv_norm(p + "shortcut.", lin, width, 1, stride);
      layers.push_back(std::move(r));
    }
    in = width;
  }
  const WeightStore& store = ck.store();
  ResNetBackbone net = ResNetBackbone::load(WeightSource(store, "", DType::F32, Device::cpu()), cfg);
  EXPECT_EQ(net.channels(), 12);

  Image x{37, 29, 3, {}};
  std::mt19937 rng(3);
  std::normal_distribution<double> nd(0, 1);
  Tensor xt = Tensor::empty({1, x.H, x.W, 3}, DType::F32);
  for (int64_t i = 0; i < xt.numel(); ++i) {
    xt.data<float>()[i] = static_cast<float>(nd(rng));
    x.v.push_back(xt.data<float>()[i]);
  }
  Image h = max_pool_ref(conv_norm_ref(x, stem, true));
  for (const LayerRef& r : layers) {
    Image res = r.shortcut ? conv_norm_ref(h, r.sc, false) : h;
    Image y = h;
    for (size_t k = 0; k < r.convs.size(); ++k) y = conv_norm_ref(y, r.convs[k], k + 1 < r.convs.size());
    for (size_t i = 0; i < y.v.size(); ++i) y.v[i] = std::max(y.v[i] + res.v[i], 0.0);
    h = y;
  }
  Tensor got = net(xt);
  ASSERT_EQ(shape_str(got.shape()), shape_str({1, h.H, h.W, h.C}));
  double err = 0, mag = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    err = std::max(err, std::fabs(got.data<float>()[i] - h.v[static_cast<size_t>(i)]));
    mag = std::max(mag, std::fabs(h.v[static_cast<size_t>(i)]));
  }
  EXPECT_GT(mag, 0.1);
  EXPECT_LT(err, 1e-4 * std::max(1.0, mag));
}

INSTANTIATE_TEST_SUITE_P(Variants, ResNetBottleneck,
                         ::testing::Values(BottleneckCase{false, false}, BottleneckCase{true, false},
                                           BottleneckCase{false, true}));

TEST(Detr, SinePositionsOverAPaddedMask) {
  // A 3x4 feature map whose last row and column are padding.
  const int64_t h = 3, w = 4, d = 8, half = d / 2;
  std::vector<uint8_t> mask = {1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0};
  Tensor got = detr_sine_position_embedding(mask, h, w, d);
  ASSERT_EQ(shape_str(got.shape()), shape_str({h * w, d}));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      // cumsum down the column / along the row, normalised by the column's / row's last value.
      double cy = 0, cx = 0, ly = 0, lx = 0;
      for (int64_t i = 0; i <= y; ++i) cy += mask[static_cast<size_t>(i * w + x)];
      for (int64_t i = 0; i <= x; ++i) cx += mask[static_cast<size_t>(y * w + i)];
      for (int64_t i = 0; i < h; ++i) ly += mask[static_cast<size_t>(i * w + x)];
      for (int64_t i = 0; i < w; ++i) lx += mask[static_cast<size_t>(y * w + i)];
      const double ny = cy / (ly + 1e-6) * 2 * M_PI, nx = cx / (lx + 1e-6) * 2 * M_PI;
      for (int64_t k = 0; k < half; ++k) {
        const double dim = std::pow(10000.0, 2.0 * static_cast<double>(k / 2) / static_cast<double>(half));
        const double wy = k % 2 ? std::cos(ny / dim) : std::sin(ny / dim);
        const double wx = k % 2 ? std::cos(nx / dim) : std::sin(nx / dim);
        EXPECT_NEAR(got.data<float>()[(y * w + x) * d + k], wy, 2e-6) << y << "," << x << "," << k;
        EXPECT_NEAR(got.data<float>()[(y * w + x) * d + half + k], wx, 2e-6) << y << "," << x << "," << k;
      }
    }
}

TEST(Detr, NearestMaskAsTorchInterpolate) {
  // 5 -> 2 rows: sources floor(0 * 2.5) = 0 and floor(1 * 2.5) = 2; 4 -> 3 columns: 0, 1, 2.
  std::vector<uint8_t> mask(20, 0);
  for (int64_t y = 0; y < 5; ++y)
    for (int64_t x = 0; x < 4; ++x) mask[static_cast<size_t>(y * 4 + x)] = static_cast<uint8_t>(y * 4 + x);
  EXPECT_EQ(nearest_mask(mask, 5, 4, 2, 3), (std::vector<uint8_t>{0, 1, 2, 8, 9, 10}));
  // Upsampling repeats: 2 -> 4 columns read 0, 0, 1, 1.
  EXPECT_EQ(nearest_mask({1, 0}, 1, 2, 1, 4), (std::vector<uint8_t>{1, 1, 0, 0}));
}

HfConfig config_of(const nlohmann::json& j) {
  return HfConfig::from_json(j, "config.json");
}

TEST(Detr, ConfigReadsTheBackboneAndRefusesWhatItDoesNotRun) {
  nlohmann::json base = {{"model_type", "detr"},
                         {"d_model", 32},
                         {"backbone_config",
                          {{"model_type", "resnet"},
                           {"layer_type", "basic"},
                           {"hidden_sizes", {16, 32, 64}},
                           {"depths", {1, 1, 1}},
                           {"out_features", {"stage2"}}}}};
  DetrConfig c = detr_config(config_of(base));
  EXPECT_FALSE(c.backbone.bottleneck);
  EXPECT_EQ(c.backbone.out_stage, 2);
  EXPECT_EQ(c.num_queries, 100);
  // DetrConfig's default backbone: ResNet-50 (bottleneck) read at stage 4.
  DetrConfig d = detr_config(config_of({{"model_type", "detr"}}));
  EXPECT_TRUE(d.backbone.bottleneck);
  EXPECT_EQ(d.backbone.out_stage, 4);
  EXPECT_EQ(d.backbone.hidden_sizes.back(), 2048);

  nlohmann::json timm = base;
  timm["use_timm_backbone"] = true;
  test::expect_error([&] { detr_config(config_of(timm)); }, ErrorKind::Unsupported, {"timm backbone"});
  nlohmann::json learned = base;
  learned["position_embedding_type"] = "learned";
  test::expect_error([&] { detr_config(config_of(learned)); }, ErrorKind::Unsupported, {"learned"});
  nlohmann::json swin = base;
  swin["backbone_config"]["model_type"] = "swin";
  test::expect_error([&] { detr_config(config_of(swin)); }, ErrorKind::Unsupported, {"swin"});
  nlohmann::json deep = base;
  deep["backbone_config"]["out_indices"] = {5};
  test::expect_error([&] { detr_config(config_of(deep)); }, ErrorKind::Unsupported, {"stage 5 of 3"});
  nlohmann::json odd = base;
  odd["d_model"] = 30;
  odd["encoder_attention_heads"] = 4;
  test::expect_error([&] { detr_config(config_of(odd)); }, ErrorKind::Corrupt, {"d_model"});
}

}  // namespace
}  // namespace ia
