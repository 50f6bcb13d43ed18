#pragma once
// The interface of an encoder-decoder (T5, Whisper, DETR as their families
// land): the encoder runs once per request; each decoder step attends to its
// own paged cache and to the encoder output (StepInputs::encoder_output),
// whose K/V the cross-attention layers project once and keep.
#include "core/tensor.h"
#include "models/causal_lm.h"
#include "models/encoder.h"

namespace ia {

class EncoderDecoder {
 public:
  virtual ~EncoderDecoder() = default;

  virtual const Encoder& encoder() const = 0;
  // A decoder step: step.encoder_output / encoder_query_start must be set.
  virtual Tensor decode(const StepInputs& step, KvCache& cache) const = 0;
};

}  // namespace ia
