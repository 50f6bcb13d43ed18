#pragma once
// The interface of a vision-language model (LLaVA, LLaVA-NeXT as their
// family lands): a vision tower and projector turn pixels into embeddings in
// the language model's space, which the runtime splices into the text's
// embeddings (StepInputs::input_embeddings) before the CausalLM steps run.
#include "core/tensor.h"
#include "models/causal_lm.h"

namespace ia {

class VisionLanguage : public CausalLM {
 public:
  // pixel_values [images, 3, H, W] f32 -> projected features [image tokens, hidden] on the device.
  virtual Tensor embed_images(const Tensor& pixel_values) const = 0;
  // token ids [T] i64 -> the language model's input embeddings [T, hidden].
  virtual Tensor embed_tokens(const Tensor& ids) const = 0;
};

}  // namespace ia
