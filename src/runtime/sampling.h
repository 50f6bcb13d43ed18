#pragma once
// Next-token selection over one row of logits, with the controls of the HF and
// OpenAI APIs. Order (as HF's logits processors, then its warpers): logit_bias,
// repetition_penalty (HF: over prompt + generated tokens, divide positive
// logits, multiply negative ones), presence / frequency penalties (OpenAI: over
// generated tokens), then - when sampling - temperature, top_k, top_p, min_p,
// and a draw from the request's own seeded generator. Greedy takes the first
// maximum after the processors, as torch.argmax.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <vector>

namespace ia {

// What a request asks of the sampler, as the CLI flags, the public
// GenerateOptions and the HTTP API spell it. Unset fields take the model's
// generation_config.json value, then HF's default (see resolve_sampling).
struct SamplingOptions {
  std::optional<float> temperature;  // 0: greedy; unset: generation_config's do_sample decides
  std::optional<int64_t> top_k;
  std::optional<float> top_p, min_p, repetition_penalty;
  float presence_penalty = 0, frequency_penalty = 0;  // OpenAI semantics
  std::map<int32_t, float> logit_bias;
  std::optional<uint64_t> seed;  // unset: random
  int logprobs = -1;             // -1: none; 0: the sampled token's; n: also the n most likely tokens
  int64_t min_tokens = 0;        // vLLM's: eos (and stop strings) do not end the output before this many tokens
  // transformers' no_repeat_ngram_size: no n-gram of the sequence (prompt and generated) occurs
  // twice; 0: off.
  std::optional<int64_t> no_repeat_ngram_size;
};

// A logits processor with state of its own, one per sequence (constrained decoding): sets the
// logits of tokens that may not come next to -inf, given the tokens generated so far.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  virtual void mask(float* logits, int64_t vocab, const std::vector<int32_t>& generated) = 0;
};
using ConstraintFactory = std::function<std::unique_ptr<TokenConstraint>()>;

// generation_config.json's sampling defaults; all optional.
struct SamplingDefaults {
  std::optional<bool> do_sample;
  std::optional<double> temperature, top_p, min_p, repetition_penalty;
  std::optional<int64_t> top_k, no_repeat_ngram_size;
};

// What the sampler runs: every control resolved to a value.
struct SamplingParams {
  bool greedy = true;
  float temperature = 1.0f;
  int64_t top_k = 0;   // 0: off
  float top_p = 1.0f;  // 1: off
  float min_p = 0.0f;  // 0: off
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f, frequency_penalty = 0.0f;
  std::map<int32_t, float> logit_bias;
  int logprobs = -1;  // -1: none; 0: the sampled token's; n: also the n most likely tokens
  int64_t min_tokens = 0;
  std::vector<int64_t> min_tokens_suppress;  // the eos ids masked while fewer than min_tokens are generated
  ConstraintFactory constraint;              // each sequence's sampler makes its own
  int64_t no_repeat_ngram_size = 0;          // 0: off
};

// Throws InvalidArgument naming the parameter when a value is out of range.
void validate(const SamplingParams& p);

// The logits processors of `p` over one row of scores, in place, in HF's order: logit_bias,
// repetition_penalty (over prompt + generated), presence / frequency penalties (over
// generated), no_repeat_ngram_size (-inf for each token that would repeat an n-gram of
// prompt + generated). Greedy and sampling apply them to the logits; beam search to the
// log-probabilities, as transformers does.
void apply_logits_processors(const SamplingParams& p, float* scores, int64_t vocab, const std::vector<int32_t>& prompt,
                             const std::vector<int32_t>& generated);

// The tokens that would complete an n-gram already in `sequence` (transformers'
// NoRepeatNGramLogitsProcessor): those following each earlier occurrence of its last n - 1
// tokens. None while the sequence is shorter than n - 1.
std::vector<int32_t> banned_ngram_tokens(const std::vector<int32_t>& sequence, int64_t n);

// The one resolve step: the request's value, else generation_config.json's,
// else HF's default (greedy unless do_sample; top_k 50, top_p 1, min_p off,
// repetition_penalty 1); validated. The seed is not part of the result: the
// Sampler takes it apart.
SamplingParams resolve_sampling(const SamplingOptions& asked, const SamplingDefaults& defaults);

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
};

struct SampledToken {
  int32_t id = 0;
  float logprob = 0;              // of the model's distribution (raw logits), when requested
  std::vector<TokenLogprob> top;  // n best of that distribution, most likely first
};

class Sampler {
 public:
  Sampler(SamplingParams params, uint64_t seed)
      : p_(std::move(params)), rng_(seed), constraint_(p_.constraint ? p_.constraint() : nullptr) {}
  SampledToken sample(const float* logits, int64_t vocab, const std::vector<int32_t>& prompt,
                      const std::vector<int32_t>& generated);
  const SamplingParams& params() const { return p_; }

  // Whether the choice is the argmax of the raw logits (greedy, no processors, no logprobs), which
  // the device can make itself (ops::argmax).
  bool argmax_only() const;
  // How many of a row's largest logits (ops::top_k) this sampler needs to choose exactly as
  // sample() would from the whole row: its top_k and a margin for ties at the cut. 0 when it
  // needs the whole row: greedy (an argmax), logits processors, no top_k, logprobs.
  int64_t candidates_needed(int64_t vocab) const;
  // sample() from a row's n largest logits (values largest first, ties by lower id, as ops::top_k
  // gives them), drawing from the same generator. Nullopt when values tied with the k-th reach
  // past the n given: sample that row from its whole logits instead.
  std::optional<int32_t> sample_candidates(const float* values, const int32_t* ids, int64_t n, int64_t vocab);

 private:
  bool has_processors() const;  // logit_bias, a penalty, min_tokens or a constraint: they change the logits first
  static constexpr int64_t kTieMargin = 16;
  static constexpr int64_t kMaxCandidates = 1024;  // ops::top_k's limit
  // The choice among n candidates sorted most likely first (temperature applied): softmax in
  // double, top_p, min_p, then one draw of the generator.
  int32_t draw(const float* scores, const int32_t* ids, int64_t n);

  SamplingParams p_;
  std::mt19937_64 rng_;
  std::unique_ptr<TokenConstraint> constraint_;
  std::vector<float> work_, sorted_scores_;
  std::vector<int32_t> order_, sorted_ids_;
};

}  // namespace ia
