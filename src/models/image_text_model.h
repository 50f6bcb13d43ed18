#pragma once
// The interface of a contrastive image-text model (CLIP today; SigLIP and others are the same
// shape): a text tower and a vision tower, each projected into one embedding space, and the
// temperature that turns cosine similarities into logits.
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "models/step_inputs.h"

namespace ia {

class ImageTextModel {
 public:
  virtual ~ImageTextModel() = default;

  virtual int64_t projection_dim() const = 0;
  virtual int64_t vocab_size() const = 0;
  // The longest text, in tokens with the special ones, the text tower's positions allow.
  virtual int64_t max_text_tokens() const = 0;
  // exp(logit_scale): logits = scale * cosine similarity.
  virtual float logit_scale() const = 0;
  virtual DType compute_dtype() const = 0;
  virtual Device device() const = 0;

  // Projected text features (transformers' get_text_features, not normalized): [S, projection_dim]
  // f32 on the device. `step` packs the S texts' token ids (runtime StepBuilder::encoder_step);
  // `ids` are the same ids on the host, which say where each text is pooled.
  virtual Tensor text_features(const StepInputs& step, const std::vector<std::span<const int32_t>>& ids) const = 0;
  // Projected image features (get_image_features): pixel_values [B, C, H, W] f32 -> [B, projection_dim].
  virtual Tensor image_features(const Tensor& pixel_values) const = 0;
};

}  // namespace ia
