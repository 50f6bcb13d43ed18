#pragma once
// The interface of a bidirectional encoder (BERT family today; ViT, CLIP
// towers, Wav2Vec2 and Whisper's encoder as their families land). It runs a
// step of packed sequences (no padding) and returns per-token hidden states
// and, where the checkpoint has one, the pooled output of its pooler head.
#include <cstdint>

#include "core/tensor.h"
#include "models/step_inputs.h"

namespace ia {

struct EncoderOutput {
  Tensor last_hidden_state;  // [T, hidden] f32, the step's rows packed
  Tensor pooler_output;      // [S, hidden] f32; undefined when the checkpoint has no pooler
};

class Encoder {
 public:
  virtual ~Encoder() = default;

  virtual int64_t hidden_size() const = 0;
  virtual int64_t vocab_size() const = 0;
  // Longest input (in tokens, special tokens included) the model's positions allow.
  virtual int64_t max_input_tokens() const = 0;
  virtual DType compute_dtype() const = 0;
  virtual Device device() const = 0;

  virtual EncoderOutput forward(const StepInputs& step) const = 0;
};

}  // namespace ia
