#pragma once
// A causal LM behind the Encoder interface: each sequence of a step runs as one whole
// prompt without a KV cache (CausalLM::forward_prompt) and the final hidden states, after
// the final norm, are its token embeddings. What sentence-transformers does with a decoder
// as its Transformer module (Qwen3-Embedding, gte-Qwen2, e5-mistral): those rows, pooled
// (usually the last token's).
#include <memory>

#include "models/causal_lm.h"
#include "models/encoder.h"

namespace ia {

class CausalLmEncoder final : public Encoder {
 public:
  explicit CausalLmEncoder(std::unique_ptr<CausalLM> lm);

  int64_t hidden_size() const override { return lm_->config().hidden_size; }
  int64_t vocab_size() const override { return lm_->config().vocab_size; }
  int64_t max_input_tokens() const override { return lm_->config().max_positions; }
  DType compute_dtype() const override { return lm_->compute_dtype(); }
  Device device() const override { return lm_->device(); }

  // last_hidden_state: the final-norm hidden state of every row; no pooler_output.
  EncoderOutput forward(const StepInputs& step) const override;

  const CausalLM& causal_lm() const { return *lm_; }

 private:
  std::unique_ptr<CausalLM> lm_;
};

}  // namespace ia
