#pragma once
// The interface of a contrastive audio-text model (CLAP): a text tower and an audio tower, each
// projected into one embedding space, and the temperatures that turn cosine similarities into
// logits (CLAP keeps one per direction: logit_scale_a for logits_per_audio, logit_scale_t for
// logits_per_text).
#include <cstdint>

#include "core/tensor.h"
#include "models/step_inputs.h"

namespace ia {

class AudioTextModel {
 public:
  virtual ~AudioTextModel() = default;

  virtual int64_t projection_dim() const = 0;
  virtual int64_t vocab_size() const = 0;
  // The longest text, in tokens with the special ones, the text tower's positions allow.
  virtual int64_t max_text_tokens() const = 0;
  // exp(logit_scale_a) and exp(logit_scale_t).
  virtual float logit_scale_audio() const = 0;
  virtual float logit_scale_text() const = 0;
  virtual DType compute_dtype() const = 0;
  virtual Device device() const = 0;

  // Projected text features (not normalized): [S, projection_dim] f32 on the device; `step` packs
  // the S texts' token ids (runtime StepBuilder::encoder_step).
  virtual Tensor text_features(const StepInputs& step) const = 0;
  // Projected audio features (not normalized): input_features [B, channels, frames, mel] f32 ->
  // [B, projection_dim] f32 on the device.
  virtual Tensor audio_features(const Tensor& input_features) const = 0;
};

}  // namespace ia
