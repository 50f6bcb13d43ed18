#pragma once
// CLIP (CLIPModel) on the shared layers: the text tower (token + learned position embeddings,
// causal pre-norm Blocks, final LayerNorm, pooled at each text's end-of-text token) and the
// VisionTower (pre_layrnorm, class token through post_layernorm), each projected without bias;
// logit_scale as the checkpoint holds it (exponentiated).
#include <memory>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/clip_towers.h"
#include "models/image_text_model.h"
#include "models/vision_tower.h"

namespace ia {

// CLIPVisionModel's checkpoint names below its prefix ("vision_model.").
const VisionTowerNames& clip_vision_names();

class ClipModel final : public ImageTextModel {
 public:
  static std::unique_ptr<ClipModel> load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                         Device device);

  int64_t projection_dim() const override { return projection_dim_; }
  int64_t vocab_size() const override { return text_.vocab_size(); }
  int64_t max_text_tokens() const override { return text_.max_positions(); }
  float logit_scale() const override { return logit_scale_; }
  DType compute_dtype() const override { return compute_dtype_; }
  Device device() const override { return device_; }
  Tensor text_features(const StepInputs& step, const std::vector<std::span<const int32_t>>& ids) const override;
  Tensor image_features(const Tensor& pixel_values) const override;

  // Where transformers pools text s: the first eos_token_id, or with the legacy eos_token_id 2 the
  // largest id (the end-of-text token had the highest id in the original vocabulary); 0 when no
  // token matches, as argmax of all zeros.
  int64_t pooled_position(std::span<const int32_t> ids) const { return text_.pooled_position(ids); }
  const VisionTower& vision() const { return vision_; }

 private:
  ClipModel() = default;
  ClipTextTower text_;
  Linear text_projection_, visual_projection_;
  VisionTower vision_;
  int64_t projection_dim_ = 0;
  float logit_scale_ = 1;
  DType compute_dtype_ = DType::F32;
  Device device_;
};

}  // namespace ia
