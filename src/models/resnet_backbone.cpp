#include "models/resnet_backbone.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/activation_names.h"
#include "ops/ops.h"

namespace ia {

namespace {

// DetrFrozenBatchNorm2d's epsilon (fixed; the checkpoint's BatchNorm2d eps is not used).
constexpr float kFrozenBatchNormEps = 1e-5f;

std::vector<int64_t> int_list(const HfConfig& c, const std::string& key, std::vector<int64_t> def) {
  auto it = c.json().find(key);
  if (it == c.json().end() || it->is_null()) return def;
  if (!it->is_array() || it->empty() || it->size() > 64)
    fail(ErrorKind::Corrupt, "{}: '{}' must be a list of 1 to 64 integers", c.path(), key);
  std::vector<int64_t> out;
  for (const auto& v : *it) {
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kMaxConfigDimension)
      fail(ErrorKind::Corrupt, "{}: '{}' holds {}, not an integer in [1, {}]", c.path(), key, v.dump(),
           kMaxConfigDimension);
    out.push_back(v.get<int64_t>());
  }
  return out;
}

// "conv" + "normalization" of one ResNetConvLayer (or ResNetShortCut).
std::vector<std::string> conv_norm_names(const std::string& name, const char* conv = "convolution",
                                         const char* norm = "normalization") {
  std::vector<std::string> out = {name + conv + ".weight"};
  for (const char* p : {".weight", ".bias", ".running_mean", ".running_var"}) out.push_back(name + norm + p);
  return out;
}

bool needs_shortcut(int64_t in, int64_t out, int64_t stride) {
  return in != out || stride != 1;
}

}  // namespace

ResNetBackboneConfig resnet_backbone_config(const HfConfig& b) {
  const std::string type = b.get_string("model_type", "resnet");
  if (type != "resnet")
    fail(ErrorKind::Unsupported, "{}: DETR with a \"{}\" backbone is not supported (only Hugging Face's ResNet)",
         b.path(), type);
  ResNetBackboneConfig c;
  c.num_channels = b.get_int("num_channels", 3);
  c.embedding_size = b.get_int("embedding_size", 64);
  if (c.num_channels < 1 || c.num_channels > 64 || c.embedding_size < 1 || c.embedding_size > kMaxConfigDimension)
    fail(ErrorKind::Corrupt, "{}: num_channels {} / embedding_size {} out of bounds", b.path(), c.num_channels,
         c.embedding_size);
  c.hidden_sizes = int_list(b, "hidden_sizes", c.hidden_sizes);
  c.depths = int_list(b, "depths", c.depths);
  if (c.hidden_sizes.size() != c.depths.size())
    fail(ErrorKind::Corrupt, "{}: {} hidden_sizes for {} depths", b.path(), c.hidden_sizes.size(), c.depths.size());
  const std::string layer_type = b.get_string("layer_type", "bottleneck");
  if (layer_type != "bottleneck" && layer_type != "basic")
    fail(ErrorKind::Unsupported, "{}: ResNet layer_type \"{}\" (known: basic, bottleneck)", b.path(), layer_type);
  c.bottleneck = layer_type == "bottleneck";
  if (c.bottleneck)
    for (int64_t h : c.hidden_sizes)
      if (h < 4) fail(ErrorKind::Corrupt, "{}: a bottleneck stage of {} channels (fewer than 4)", b.path(), h);
  c.downsample_in_first_stage = b.get_bool("downsample_in_first_stage", false);
  c.downsample_in_bottleneck = b.get_bool("downsample_in_bottleneck", false);
  c.activation = parse_activation(b.get_string("hidden_act", "relu"), b.path());
  const int64_t stages = static_cast<int64_t>(c.depths.size());
  c.out_stage = stages;
  // stage_names are "stem", "stage1", ...: an index or a name picks the stage; DETR reads the last.
  auto idx = b.json().find("out_indices");
  auto names = b.json().find("out_features");
  if (idx != b.json().end() && idx->is_array() && !idx->empty()) {
    if (!idx->back().is_number_integer())
      fail(ErrorKind::Corrupt, "{}: out_indices holds {}", b.path(), idx->back().dump());
    c.out_stage = idx->back().get<int64_t>();
    if (c.out_stage < 0) c.out_stage += stages + 1;
  } else if (names != b.json().end() && names->is_array() && !names->empty()) {
    const std::string last = names->back().is_string() ? names->back().get<std::string>() : "";
    if (last.rfind("stage", 0) != 0 || last.size() < 6)
      fail(ErrorKind::Corrupt, "{}: out_features names \"{}\", not a stage", b.path(), last);
    c.out_stage = std::strtol(last.c_str() + 5, nullptr, 10);
  }
  if (c.out_stage < 1 || c.out_stage > stages)
    fail(ErrorKind::Unsupported, "{}: the backbone's feature map is stage {} of {} (the stem alone is not supported)",
         b.path(), c.out_stage, stages);
  return c;
}

std::vector<std::string> ResNetBackbone::tensor_names(const ResNetBackboneConfig& c) {
  std::vector<std::string> out = conv_norm_names("embedder.embedder.");
  int64_t in = c.embedding_size;
  for (int64_t s = 0; s < c.out_stage; ++s) {
    const int64_t width = c.hidden_sizes[static_cast<size_t>(s)];
    const int64_t stride = s == 0 && !c.downsample_in_first_stage ? 1 : 2;
    for (int64_t l = 0; l < c.depths[static_cast<size_t>(s)]; ++l) {
      const std::string lp = fmt::format("encoder.stages.{}.layers.{}.", s, l);
      const int64_t convs = c.bottleneck ? 3 : 2;
      for (int64_t k = 0; k < convs; ++k)
        for (auto& n : conv_norm_names(fmt::format("{}layer.{}.", lp, k))) out.push_back(std::move(n));
      if (needs_shortcut(l == 0 ? in : width, width, l == 0 ? stride : 1))
        for (auto& n : conv_norm_names(lp + "shortcut.")) out.push_back(std::move(n));
    }
    in = width;
  }
  return out;
}

ResNetBackbone::ConvNorm ResNetBackbone::load_conv_norm(const WeightSource& w, const std::string& name, int64_t in,
                                                        int64_t out, int64_t kernel, int64_t stride) {
  const WeightStore& store = w.store();
  const std::string p = w.prefix() + name;
  Tensor weight = store.get_as(p + "convolution.weight", DType::F32, {out, in, kernel, kernel});
  Tensor gamma = store.get_as(p + "normalization.weight", DType::F32, {out});
  Tensor beta = store.get_as(p + "normalization.bias", DType::F32, {out});
  Tensor mean = store.get_as(p + "normalization.running_mean", DType::F32, {out});
  Tensor var = store.get_as(p + "normalization.running_var", DType::F32, {out});
  // The frozen norm folded into the convolution: scale and shift in f32 as DetrFrozenBatchNorm2d
  // computes them, the product with each weight in f32.
  Tensor fw = Tensor::empty({out, in, kernel, kernel}, DType::F32), fb = Tensor::empty({out}, DType::F32);
  Tensor wc = weight.contiguous();
  const int64_t per = in * kernel * kernel;
  for (int64_t o = 0; o < out; ++o) {
    const float scale = gamma.data<float>()[o] / std::sqrt(var.data<float>()[o] + kFrozenBatchNormEps);
    fb.data<float>()[o] = beta.data<float>()[o] - mean.data<float>()[o] * scale;
    for (int64_t i = 0; i < per; ++i) fw.data<float>()[o * per + i] = wc.data<float>()[o * per + i] * scale;
  }
  ConvNorm c;
  c.weight = ops::to_device(fw, w.device());
  c.bias = ops::to_device(fb, w.device());
  c.params.stride_h = c.params.stride_w = stride;
  c.params.padding_h = c.params.padding_w = kernel / 2;
  c.params.bf16_products = w.compute_dtype() == DType::BF16;  // a bf16 model's convolutions, as PyTorch runs them
  return c;
}

ResNetBackbone ResNetBackbone::load(const WeightSource& w, const ResNetBackboneConfig& c) {
  w.require(tensor_names(c), "DETR's ResNet backbone");
  ResNetBackbone r;
  r.config_ = c;
  r.stem_ = load_conv_norm(w, "embedder.embedder.", c.num_channels, c.embedding_size, 7, 2);
  int64_t in = c.embedding_size;
  for (int64_t s = 0; s < c.out_stage; ++s) {
    const int64_t width = c.hidden_sizes[static_cast<size_t>(s)];
    const int64_t stage_stride = s == 0 && !c.downsample_in_first_stage ? 1 : 2;
    std::vector<Layer> layers;
    for (int64_t l = 0; l < c.depths[static_cast<size_t>(s)]; ++l) {
      const std::string lp = fmt::format("encoder.stages.{}.layers.{}.", s, l);
      const int64_t lin = l == 0 ? in : width, stride = l == 0 ? stage_stride : 1;
      Layer layer;
      if (c.bottleneck) {
        const int64_t reduced = width / 4;
        const int64_t s1 = c.downsample_in_bottleneck ? stride : 1, s3 = c.downsample_in_bottleneck ? 1 : stride;
        layer.convs.push_back(load_conv_norm(w, lp + "layer.0.", lin, reduced, 1, s1));
        layer.convs.push_back(load_conv_norm(w, lp + "layer.1.", reduced, reduced, 3, s3));
        layer.convs.push_back(load_conv_norm(w, lp + "layer.2.", reduced, width, 1, 1));
      } else {
        layer.convs.push_back(load_conv_norm(w, lp + "layer.0.", lin, width, 3, stride));
        layer.convs.push_back(load_conv_norm(w, lp + "layer.1.", width, width, 3, 1));
      }
      if (needs_shortcut(lin, width, stride)) {
        layer.has_shortcut = true;
        layer.shortcut = load_conv_norm(w, lp + "shortcut.", lin, width, 1, stride);
      }
      layers.push_back(std::move(layer));
    }
    r.stages_.push_back(std::move(layers));
    in = width;
  }
  return r;
}

int64_t ResNetBackbone::channels() const {
  return config_.hidden_sizes[static_cast<size_t>(config_.out_stage - 1)];
}

Tensor ResNetBackbone::conv(const ConvNorm& c, const Tensor& x, bool activate, const Tensor* residual) const {
  ConvEpilogue e;
  e.residual = residual;
  e.has_activation = activate;
  e.activation = config_.activation;
  return ops::conv2d(x, c.weight, &c.bias, c.params, e);
}

Tensor ResNetBackbone::operator()(const Tensor& x) const {
  MaxPool2dParams pool;
  pool.kernel_h = pool.kernel_w = 3;
  pool.stride_h = pool.stride_w = 2;
  pool.padding_h = pool.padding_w = 1;
  Tensor h = ops::max_pool2d(conv(stem_, x, true), pool);
  for (const auto& stage : stages_)
    for (const Layer& layer : stage) {
      Tensor residual = layer.has_shortcut ? conv(layer.shortcut, h, false) : h;
      Tensor y = h;
      // The last convolution of the block adds the shortcut and activates in its output pass.
      for (size_t k = 0; k + 1 < layer.convs.size(); ++k) y = conv(layer.convs[k], y, true);
      h = conv(layer.convs.back(), y, true, &residual);
    }
  return h;
}

}  // namespace ia
