#pragma once
// DETR (DetrForObjectDetection): Hugging Face's ResNet backbone with frozen batch norm
// (models/resnet_backbone.h), a 1x1 input projection, the sine spatial position embedding, a
// post-norm encoder and a post-norm decoder of object queries (positions added to the inputs of
// q and k: PositionKind::QueryKey), the decoder's final LayerNorm, the class head and the 3-layer
// box MLP with a sigmoid.
#include <memory>
#include <string>
#include <vector>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/layers/block.h"
#include "models/layers/linear.h"
#include "models/layers/norm.h"
#include "models/object_detector.h"
#include "models/resnet_backbone.h"

namespace ia {

struct DetrConfig {
  int64_t d_model = 256, encoder_layers = 6, decoder_layers = 6, encoder_heads = 8, decoder_heads = 8;
  int64_t encoder_ffn = 2048, decoder_ffn = 2048, num_queries = 100;
  Activation activation = Activation::Relu;
  ResNetBackboneConfig backbone;
};

// config.json's fields with DetrConfig's defaults; Unsupported for what this build does not run
// (a timm backbone, learned position embeddings), Corrupt out of bounds.
DetrConfig detr_config(const HfConfig& c);

// DetrSinePositionEmbedding(d_model / 2, temperature 10000, normalize=True, scale 2 pi) of one
// feature map: mask [h, w] (1 = pixel, 0 = padding; the pixel_mask brought to the feature map's
// size) -> [h * w, d_model] f32 rows in the feature map's row-major order, computed in f32 in
// transformers' order: the y half (channels 0 .. d/2-1) then the x half, each sin / cos pairs.
Tensor detr_sine_position_embedding(const std::vector<uint8_t>& mask, int64_t h, int64_t w, int64_t d_model);

// torch.nn.functional.interpolate(mode="nearest") of a pixel mask [H, W] to [h, w]: source
// index floor(dst * (in / out)) in f32, clamped to in - 1.
std::vector<uint8_t> nearest_mask(const std::vector<uint8_t>& mask, int64_t H, int64_t W, int64_t h, int64_t w);

class DetrForObjectDetection final : public ObjectDetector {
 public:
  static std::unique_ptr<DetrForObjectDetection> load(const HfConfig& config, const WeightStore& weights,
                                                      DType compute_dtype, Device device);

  int64_t num_labels() const override { return static_cast<int64_t>(labels_.size()); }
  const std::vector<std::string>& labels() const override { return labels_; }
  int64_t num_queries() const override { return config_.num_queries; }
  DType compute_dtype() const override { return compute_dtype_; }
  Device device() const override { return device_; }
  ObjectDetectorOutput forward(const std::vector<Tensor>& pixel_values) const override;

 private:
  DetrForObjectDetection() = default;

  DetrConfig config_;
  ResNetBackbone backbone_;
  Tensor projection_weight_, projection_bias_;  // the 1x1 input projection [d, C, 1, 1]
  Tensor query_positions_;                      // [queries, d]
  std::vector<Block> encoder_, decoder_;
  Norm decoder_norm_;
  Linear classifier_;
  std::vector<Linear> box_mlp_;  // three layers, ReLU between
  std::vector<std::string> labels_;
  DType compute_dtype_ = DType::F32;
  Device device_;
};

}  // namespace ia
