#pragma once
// How far one causal LM's next-token distributions are from another's over the same tokens
// (a quantized model against the unquantized one), as `llama-perplexity --kl-divergence`
// measures it: KL(base || model) per position, top-1 agreement, and each model's perplexity
// of the text itself.
#include <cstdint>
#include <span>

#include "models/causal_lm.h"

namespace ia {

struct NextTokenComparison {
  int64_t positions = 0;  // next-token distributions compared
  int64_t windows = 0;    // forward passes per model
  // KL(base || model) in nats: sum_v p_base(v) (log p_base(v) - log p_model(v)).
  double kl_mean = 0, kl_median = 0, kl_p99 = 0, kl_max = 0;
  double top1_agreement = 0;  // share of positions whose argmax is the same
  // exp(mean -log p(next token of the text)) of each model over the same positions.
  double base_perplexity = 0, perplexity = 0;
};

// Cuts `ids` into windows of at most `window` tokens (each one a fresh sequence, as
// llama-perplexity's chunks) and compares every position's prediction of the next token
// within its window. InvalidArgument for fewer than 2 tokens, a window < 2 or past either
// model's context, or vocabularies of different sizes. `model` runs on a KV cache of
// `model_kv_cache_dtype` (an int8 cache against base's f32 one: the same model twice), base on f32.
NextTokenComparison compare_next_tokens(const CausalLM& base, const CausalLM& model, std::span<const int32_t> ids,
                                        int64_t window, DType model_kv_cache_dtype = DType::F32);

}  // namespace ia
