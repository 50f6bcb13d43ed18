#pragma once
// Hugging Face's ResNet (ResNetBackbone, transformers' `ResNetModel` layout) as DETR's
// convolutional backbone: the 7x7 stride-2 stem and a 3x3 stride-2 max pool, then stages of basic
// (two 3x3) or bottleneck (1x1, 3x3, 1x1) layers with a projection shortcut where the shape
// changes. Every batch norm is DETR's frozen batch norm (running statistics, eps 1e-5), folded
// into the convolution before it at load: w' = w * scale, b' = bias - mean * scale with
// scale = weight / sqrt(var + eps), so a conv + norm is one conv2d op. Activations are channels
// last ([B, H, W, C]), so the feature map's rows are the encoder's tokens without a transpose.
#include <cstdint>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "formats/hf_config.h"
#include "models/layers/weight_source.h"

namespace ia {

struct ResNetBackboneConfig {
  int64_t num_channels = 3, embedding_size = 64;
  std::vector<int64_t> hidden_sizes = {256, 512, 1024, 2048};
  std::vector<int64_t> depths = {3, 4, 6, 3};
  bool bottleneck = true;  // layer_type "bottleneck"; false: "basic"
  bool downsample_in_first_stage = false;
  bool downsample_in_bottleneck = false;  // the stride on the first 1x1 instead of the 3x3
  Activation activation = Activation::Relu;
  // The stage whose output is the feature map (1-based, as stage_names' "stageN"): the last of
  // out_features / out_indices, as DETR reads the last feature map. Later stages are not loaded.
  int64_t out_stage = 4;
};

// backbone_config of a DETR config.json (model_type "resnet"), with ResNetConfig's defaults for
// absent keys; Corrupt out of bounds, Unsupported for another backbone type.
ResNetBackboneConfig resnet_backbone_config(const HfConfig& backbone_config);

class ResNetBackbone {
 public:
  // `w` is rooted at the backbone (its names start "embedder." and "encoder.").
  static ResNetBackbone load(const WeightSource& w, const ResNetBackboneConfig& c);
  static std::vector<std::string> tensor_names(const ResNetBackboneConfig& c);

  // x [B, H, W, C] channels last (the pixel_values transposed) -> feature map [B, h, w, channels()].
  Tensor operator()(const Tensor& x) const;
  int64_t channels() const;

 private:
  // A convolution with its frozen batch norm folded in (bias always present).
  struct ConvNorm {
    Tensor weight, bias;
    Conv2dParams params;
  };
  struct Layer {
    std::vector<ConvNorm> convs;  // the last has no activation: it is added to the shortcut first
    bool has_shortcut = false;
    ConvNorm shortcut;
  };
  static ConvNorm load_conv_norm(const WeightSource& w, const std::string& name, int64_t in, int64_t out,
                                 int64_t kernel, int64_t stride);
  // activation(conv(x) + bias + residual) with the activation when `activate`, the residual when given.
  Tensor conv(const ConvNorm& c, const Tensor& x, bool activate, const Tensor* residual = nullptr) const;

  ResNetBackboneConfig config_;
  ConvNorm stem_;
  std::vector<std::vector<Layer>> stages_;
};

}  // namespace ia
