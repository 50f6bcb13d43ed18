#pragma once
// Beam search over the paged KV cache, as transformers' generate(num_beams=N, do_sample=False)
// runs it (GenerationMixin._beam_search, the vectorised version of transformers 4.50+ / 5):
// each step every running beam's log-softmax (f32) goes through the logits processors (a model's
// own, SamplingParams::constraint, made fresh for each beam and step; then no_repeat_ngram_size,
// penalties) and is added to the beam's running score; the best
// max(2, 1 + eos ids) * N continuations of all beams are kept; those ending in eos (or reaching
// the length limit) among the first N become finished hypotheses, scored sum logprob /
// generated_length ^ length_penalty, and the best N finished are kept; the best N unfinished
// continue. The search ends when no running beam can beat the worst finished one
// (early_stopping false: a heuristic at the current length; "never": at the longest length
// when length_penalty > 0), when N hypotheses are finished (early_stopping true), or at the
// length limit. The first step runs the prompt once; the other beams start at -1e9, as in
// transformers, so the first choices all come from it.
//
// Beams are sequences of the KV cache: a continuation forks its parent (KvCache::fork: full
// blocks shared, the partial one copied), so beams share their common prefix.
#include <cstdint>
#include <vector>

#include "models/kv_cache.h"
#include "runtime/sampling.h"
#include "runtime/step_runner.h"

namespace ia {

// transformers' early_stopping: false (Heuristic), true (Done: stop once num_beams hypotheses
// are finished) or "never" (only when no running beam can still improve, at the longest length).
enum class EarlyStopping { Heuristic, Done, Never };

struct BeamSearchParams {
  int64_t num_beams = 1;
  float length_penalty = 1.0f;
  EarlyStopping early_stopping = EarlyStopping::Heuristic;
  int64_t max_new_tokens = 1;
  std::vector<int64_t> eos_token_ids;  // empty: no hypothesis ends before the length limit
  SamplingParams processors;           // logits processors only (greedy: no sampling)
};

struct BeamHypothesis {
  std::vector<int32_t> ids;  // generated tokens (the eos that ended it included)
  float score = 0;           // sum of log-probs / len(ids) ^ length_penalty
  bool eos = false;          // ended by an eos token (else by the length limit)
};

// The largest num_beams accepted.
constexpr int64_t kMaxBeams = 64;

// Blocks of `block_size` a search of `p` after a prompt of `prompt_tokens` may hold at once.
int64_t beam_search_blocks(const BeamSearchParams& p, int64_t prompt_tokens, int64_t block_size);

// Beam search after `prompt` (run on a new sequence of `cache`; an encoder-decoder's decoder
// prompt, with `cross` its encoder sequence in the runner's cross cache). Returns the finished
// hypotheses, best first (num_beams of them, fewer when the vocabulary is smaller). Every
// sequence it creates is released before it returns, also on an error.
std::vector<BeamHypothesis> beam_search(CausalStepRunner& runner, KvCache& cache, const std::vector<int32_t>& prompt,
                                        int64_t cross, int64_t vocab, const BeamSearchParams& p);

}  // namespace ia
