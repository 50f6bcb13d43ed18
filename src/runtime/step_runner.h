#pragma once
// Runs model steps the way every runtime path does: the StepBuilder builds
// the step, the model computes, and a failed step leaves the KV cache exactly
// as it was. Generation, chat, benchmarks and parity tests all go through it.
#include <vector>

#include "core/tensor.h"
#include "models/causal_lm.h"
#include "models/encoder.h"
#include "runtime/step_builder.h"

namespace ia {

class CausalStepRunner {
 public:
  explicit CausalStepRunner(const CausalLM& model) : model_(model), builder_(model.device()) {}

  // Runs the new tokens of each chunk (their K/V join the cache) and returns host
  // f32 logits: [chunks, vocab] for each chunk's last new token, or [new tokens, vocab].
  Tensor step(const std::vector<SeqChunk>& chunks, KvCache& cache, OutputRows rows = OutputRows::LastOfEachSequence);

 private:
  const CausalLM& model_;
  StepBuilder builder_;
};

// Padded [B, S] i64 ids and mask (1 = token, right padding only) through an
// encoder as one packed step: last_hidden_state [B, S, H] on the host with
// zeros at padding, pooler_output [B, H] where the model has a pooler. For
// callers that hold padded batches (tests against padded references).
EncoderOutput encode_padded(const Encoder& encoder, const Tensor& input_ids, const Tensor& attention_mask,
                            const Tensor* token_type_ids);

}  // namespace ia
