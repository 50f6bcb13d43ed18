#include "runtime/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <unordered_map>

#include "core/error.h"

namespace ia {

void validate(const SamplingParams& p) {
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature))
    fail(ErrorKind::InvalidArgument, "temperature must be >= 0, got {}", p.temperature);
  if (!(p.top_p > 0 && p.top_p <= 1)) fail(ErrorKind::InvalidArgument, "top_p must be in (0, 1], got {}", p.top_p);
  if (p.top_k < 0) fail(ErrorKind::InvalidArgument, "top_k must be >= 0, got {}", p.top_k);
  if (!(p.min_p >= 0 && p.min_p <= 1)) fail(ErrorKind::InvalidArgument, "min_p must be in [0, 1], got {}", p.min_p);
  if (!(p.repetition_penalty > 0) || !std::isfinite(p.repetition_penalty))
    fail(ErrorKind::InvalidArgument, "repetition_penalty must be > 0, got {}", p.repetition_penalty);
  if (!(std::fabs(p.presence_penalty) <= 2) || !(std::fabs(p.frequency_penalty) <= 2))
    fail(ErrorKind::InvalidArgument, "presence and frequency penalties must be in [-2, 2]");
  if (p.logprobs > 20) fail(ErrorKind::InvalidArgument, "logprobs must be at most 20, got {}", p.logprobs);
  if (p.min_tokens < 0) fail(ErrorKind::InvalidArgument, "min_tokens must be >= 0, got {}", p.min_tokens);
  if (p.no_repeat_ngram_size < 0)
    fail(ErrorKind::InvalidArgument, "no_repeat_ngram_size must be >= 0, got {}", p.no_repeat_ngram_size);
}

SamplingParams resolve_sampling(const SamplingOptions& asked, const SamplingDefaults& d) {
  SamplingParams p;
  if (asked.temperature) {
    p.greedy = *asked.temperature == 0;
    p.temperature = *asked.temperature;
  } else {
    p.greedy = !d.do_sample.value_or(false);
    p.temperature = static_cast<float>(d.temperature.value_or(1.0));
  }
  p.top_k = asked.top_k.value_or(d.top_k.value_or(50));
  p.top_p = asked.top_p.value_or(static_cast<float>(d.top_p.value_or(1.0)));
  p.min_p = asked.min_p.value_or(static_cast<float>(d.min_p.value_or(0.0)));
  p.repetition_penalty = asked.repetition_penalty.value_or(static_cast<float>(d.repetition_penalty.value_or(1.0)));
  p.presence_penalty = asked.presence_penalty;
  p.frequency_penalty = asked.frequency_penalty;
  p.logit_bias = asked.logit_bias;
  p.logprobs = asked.logprobs;
  p.min_tokens = asked.min_tokens;
  p.no_repeat_ngram_size = asked.no_repeat_ngram_size.value_or(d.no_repeat_ngram_size.value_or(0));
  validate(p);
  return p;
}

int32_t Sampler::draw(const float* scores, const int32_t* ids, int64_t n) {
  const double mx = scores[0];
  std::vector<double> prob(static_cast<size_t>(n));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += (prob[static_cast<size_t>(i)] = std::exp(scores[i] - mx));
  for (double& p : prob) p /= sum;
  if (p_.top_p < 1.0f) {
    // The smallest head whose mass reaches top_p (at least one token).
    double cum = 0;
    int64_t keep = 0;
    while (keep < n && (keep == 0 || cum < p_.top_p)) cum += prob[static_cast<size_t>(keep++)];
    n = keep;
  }
  if (p_.min_p > 0) {
    const double floor = p_.min_p * prob[0];
    int64_t keep = 1;
    while (keep < n && prob[static_cast<size_t>(keep)] >= floor) ++keep;
    n = keep;
  }
  double mass = 0;
  for (int64_t i = 0; i < n; ++i) mass += prob[static_cast<size_t>(i)];
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) * mass;
  double cum = 0;
  for (int64_t i = 0; i < n; ++i) {
    cum += prob[static_cast<size_t>(i)];
    if (u < cum) return ids[i];
  }
  return ids[n - 1];
}

bool Sampler::has_processors() const {
  return !p_.logit_bias.empty() || p_.repetition_penalty != 1.0f || p_.presence_penalty != 0 ||
         p_.frequency_penalty != 0 || (p_.min_tokens > 0 && !p_.min_tokens_suppress.empty()) || constraint_ ||
         p_.no_repeat_ngram_size > 0;
}

std::vector<int32_t> banned_ngram_tokens(const std::vector<int32_t>& seq, int64_t n) {
  std::vector<int32_t> banned;
  const auto L = static_cast<int64_t>(seq.size());
  if (n <= 0 || L + 1 < n) return banned;
  // The last n - 1 tokens, against every earlier window of n - 1 that has a token after it.
  for (int64_t i = 0; i + n <= L; ++i) {
    bool same = true;
    for (int64_t j = 0; j < n - 1 && same; ++j)
      same = seq[static_cast<size_t>(i + j)] == seq[static_cast<size_t>(L - n + 1 + j)];
    if (same) banned.push_back(seq[static_cast<size_t>(i + n - 1)]);
  }
  return banned;
}

void apply_logits_processors(const SamplingParams& p, float* s, int64_t V, const std::vector<int32_t>& prompt,
                             const std::vector<int32_t>& generated) {
  if (static_cast<int64_t>(generated.size()) < p.min_tokens)
    for (int64_t id : p.min_tokens_suppress)
      if (id >= 0 && id < V) s[id] = -std::numeric_limits<float>::infinity();
  for (const auto& [id, bias] : p.logit_bias)
    if (id >= 0 && id < V) s[id] += bias;
  if (p.repetition_penalty != 1.0f) {
    std::vector<char> seen(static_cast<size_t>(V), 0);
    auto penalise = [&](int32_t id) {
      if (id < 0 || id >= V || seen[static_cast<size_t>(id)]) return;
      seen[static_cast<size_t>(id)] = 1;
      s[id] = s[id] < 0 ? s[id] * p.repetition_penalty : s[id] / p.repetition_penalty;
    };
    for (int32_t id : prompt) penalise(id);
    for (int32_t id : generated) penalise(id);
  }
  if (p.presence_penalty != 0 || p.frequency_penalty != 0) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t id : generated) ++counts[id];
    for (const auto& [id, c] : counts)
      if (id >= 0 && id < V) s[id] -= p.frequency_penalty * static_cast<float>(c) + p.presence_penalty;
  }
  if (p.no_repeat_ngram_size > 0) {
    std::vector<int32_t> seq = prompt;
    seq.insert(seq.end(), generated.begin(), generated.end());
    for (int32_t id : banned_ngram_tokens(seq, p.no_repeat_ngram_size))
      if (id >= 0 && id < V) s[id] = -std::numeric_limits<float>::infinity();
  }
}

bool Sampler::argmax_only() const {
  return (p_.greedy || p_.temperature == 0) && !has_processors() && p_.logprobs < 0;
}

int64_t Sampler::candidates_needed(int64_t vocab) const {
  if (p_.greedy || p_.temperature == 0 || has_processors() || p_.logprobs >= 0) return 0;
  if (p_.top_k <= 0 || p_.top_k + kTieMargin > std::min<int64_t>(vocab, kMaxCandidates)) return 0;
  return p_.top_k + kTieMargin;
}

std::optional<int32_t> Sampler::sample_candidates(const float* values, const int32_t* ids, int64_t n, int64_t vocab) {
  IA_CHECK(n > p_.top_k && p_.top_k > 0 && !p_.greedy, "sampler: {} candidates for top_k {}", n, p_.top_k);
  // The same scores sample() computes, in its order (by score, then id: two logits may scale to
  // one value), and its top-k cut, ties at the k-th value kept.
  const float inv_t = 1.0f / p_.temperature;
  order_.resize(static_cast<size_t>(n));
  std::iota(order_.begin(), order_.end(), 0);
  work_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) work_[static_cast<size_t>(i)] = values[i] * inv_t;
  std::sort(order_.begin(), order_.end(),
            [&](int32_t a, int32_t b) { return work_[a] > work_[b] || (work_[a] == work_[b] && ids[a] < ids[b]); });
  sorted_scores_.resize(static_cast<size_t>(n));
  sorted_ids_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    sorted_scores_[static_cast<size_t>(i)] = work_[order_[static_cast<size_t>(i)]];
    sorted_ids_[static_cast<size_t>(i)] = ids[order_[static_cast<size_t>(i)]];
  }
  const float kth = sorted_scores_[static_cast<size_t>(p_.top_k - 1)];
  int64_t m = p_.top_k;
  while (m < n && sorted_scores_[static_cast<size_t>(m)] >= kth) ++m;
  if (m == n && n < vocab) return std::nullopt;  // the tie at the cut may go on past what was given
  return draw(sorted_scores_.data(), sorted_ids_.data(), m);
}

SampledToken Sampler::sample(const float* logits, int64_t V, const std::vector<int32_t>& prompt,
                             const std::vector<int32_t>& generated) {
  work_.assign(logits, logits + V);
  float* s = work_.data();
  // What may not come next goes first: nothing after it can bring a token back.
  if (constraint_) constraint_->mask(s, V, generated);
  apply_logits_processors(p_, s, V, prompt, generated);

  int32_t chosen = 0;
  if (p_.greedy || p_.temperature == 0) {
    chosen = static_cast<int32_t>(std::max_element(s, s + V) - s);  // first maximum
  } else {
    const float inv_t = 1.0f / p_.temperature;
    for (int64_t i = 0; i < V; ++i) s[i] *= inv_t;
    // Candidates sorted by score, most likely first; top_k cuts the list (ties at the k-th value kept, as HF).
    order_.resize(static_cast<size_t>(V));
    std::iota(order_.begin(), order_.end(), 0);
    int64_t n = V;
    auto by_score = [s](int32_t a, int32_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); };
    if (p_.top_k > 0 && p_.top_k < V) {
      std::nth_element(order_.begin(), order_.begin() + p_.top_k - 1, order_.end(), by_score);
      const float kth = s[order_[static_cast<size_t>(p_.top_k - 1)]];
      n = std::partition(order_.begin(), order_.end(), [&](int32_t i) { return s[i] >= kth; }) - order_.begin();
    }
    std::sort(order_.begin(), order_.begin() + n, by_score);
    sorted_scores_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) sorted_scores_[static_cast<size_t>(i)] = s[order_[static_cast<size_t>(i)]];
    chosen = draw(sorted_scores_.data(), order_.data(), n);
  }

  SampledToken out;
  out.id = chosen;
  if (p_.logprobs >= 0) {
    // Log-probabilities of the model's own distribution (raw logits, in double).
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < V; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
    double sum = 0;
    for (int64_t i = 0; i < V; ++i) sum += std::exp(logits[i] - mx);
    const double lse = mx + std::log(sum);
    out.logprob = static_cast<float>(logits[chosen] - lse);
    if (p_.logprobs > 0) {
      std::vector<int32_t> idx(static_cast<size_t>(V));
      std::iota(idx.begin(), idx.end(), 0);
      const int64_t k = std::min<int64_t>(p_.logprobs, V);
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [logits](int32_t a, int32_t b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
      });
      for (int64_t i = 0; i < k; ++i)
        out.top.push_back({idx[static_cast<size_t>(i)], static_cast<float>(logits[idx[static_cast<size_t>(i)]] - lse)});
    }
  }
  return out;
}

}  // namespace ia
