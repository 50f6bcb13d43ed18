#pragma once
// Runs model steps the way every runtime path does: the StepBuilder builds
// the step, the model computes, and a failed step leaves the KV cache exactly
// as it was. Generation, chat, benchmarks and parity tests all go through it.
#include <vector>

#include "core/tensor.h"
#include "models/causal_lm.h"
#include "models/encoder.h"
#include "runtime/recorded_steps.h"
#include "runtime/sampling.h"
#include "runtime/step_builder.h"

namespace ia {

class CausalStepRunner {
 public:
  explicit CausalStepRunner(const CausalLM& model);

  // The decoder of an encoder-decoder: every later step carries this cross-attention cache (which
  // must outlive those steps), and each chunk's `cross` names its encoder sequence. Null: none.
  void set_cross_cache(const CrossKvCache* cross) { cross_ = cross; }

  // Runs the new tokens of each chunk (their K/V join the cache) and returns host
  // f32 logits: [chunks, vocab] for each chunk's last new token, or [new tokens, vocab].
  Tensor step(const std::vector<SeqChunk>& chunks, KvCache& cache, OutputRows rows = OutputRows::LastOfEachSequence);
  // As step, but returns each chunk's greedy next token (the argmax of its last row's logits),
  // chosen on the model's device: only the ids cross to the host.
  std::vector<int32_t> step_greedy(const std::vector<SeqChunk>& chunks, KvCache& cache);
  // As step, but returns each chunk's k largest logits (values [chunks, k] f32 and ids
  // [chunks, k] i32 on the host, largest first: ops::top_k), chosen on the model's device, for
  // a sampler that needs no more (Sampler::candidates_needed). logits_row(r) fetches a whole row
  // of this step when it does after all (a tie at the cut), until the next step.
  struct Candidates {
    Tensor values, ids;
    Tensor device_logits;
  };
  Candidates step_top_k(const std::vector<SeqChunk>& chunks, KvCache& cache, int64_t k);

  // One chunk's row of a sampled step: its sampler and the tokens its processors look at. A null
  // sampler: the row's output is not wanted (a prompt chunk before the prompt's last).
  struct RowSampler {
    Sampler* sampler = nullptr;
    const std::vector<int32_t>* prompt = nullptr;
    const std::vector<int32_t>* generated = nullptr;
  };
  // Runs the step and draws each sampling row's next token the cheapest way all of them allow:
  // an argmax on the device when every one is argmax_only (only ids cross to the host), each
  // row's k largest logits when every one samples from a top-k (Sampler::candidates_needed; a
  // tie past them takes that row's whole logits), else whole rows to the host sampler. The
  // tokens are the same each way; IA_SAMPLE_ON_DEVICE=0 forces whole rows (the tests' A/B).
  // Rows without a sampler get a default token.
  std::vector<SampledToken> step_and_sample(const std::vector<SeqChunk>& chunks, KvCache& cache,
                                            const std::vector<RowSampler>& rows);

 private:
  // The step's result on the model's device. Decode steps (one token per chunk) replay a
  // recording of their shape where the device records (recorded_steps.h).
  std::vector<Tensor> device_step(const std::vector<SeqChunk>& chunks, KvCache& cache, OutputRows rows,
                                  const StepResult& result);

  const CausalLM& model_;
  StepBuilder builder_;
  RecordedSteps recorded_;
  bool sample_on_device_;  // not IA_SAMPLE_ON_DEVICE=0, read once (step_and_sample)
  const CrossKvCache* cross_ = nullptr;
};

// Padded [B, S] i64 ids and mask (1 = token, right padding only) through an
// encoder as one packed step: last_hidden_state [B, S, H] on the host with
// zeros at padding, pooler_output [B, H] where the model has a pooler. For
// callers that hold padded batches (tests against padded references).
EncoderOutput encode_padded(const Encoder& encoder, const Tensor& input_ids, const Tensor& attention_mask,
                            const Tensor* token_type_ids);

}  // namespace ia
