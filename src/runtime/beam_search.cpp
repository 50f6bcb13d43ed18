#include "runtime/beam_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "core/error.h"

namespace ia {

namespace {

constexpr float kNeg = -1.0e9f;  // transformers' "very large negative value"

// log_softmax of one row in f32, as torch computes it: x - max - log(sum(exp(x - max))).
void log_softmax(const float* x, float* y, int64_t n) {
  const float mx = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i] - mx));
  const auto lse = static_cast<float>(std::log(sum));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] - mx - lse;
}

// Indices of the k largest of `v` (n of them), largest first; equal values: the lower index first.
std::vector<int64_t> top_indices(const std::vector<float>& v, int64_t n, int64_t k) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  auto better = [&](int64_t a, int64_t b) {
    const float x = v[static_cast<size_t>(a)], y = v[static_cast<size_t>(b)];
    return x > y || (x == y && a < b);
  };
  k = std::min(k, n);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better);
  idx.resize(static_cast<size_t>(k));
  return idx;
}

// length ^ penalty as Python's int ** float, then the f32 a tensor divides by.
float length_divisor(int64_t length, float penalty) {
  return static_cast<float>(std::pow(static_cast<double>(length), static_cast<double>(penalty)));
}

// The cache sequences a search holds, released however it ends.
class Sequences {
 public:
  explicit Sequences(KvCache& cache) : cache_(cache) {}
  ~Sequences() {
    for (int64_t s : held_) cache_.release(s);
  }
  Sequences(const Sequences&) = delete;
  Sequences& operator=(const Sequences&) = delete;
  int64_t create() { return keep(cache_.create_sequence()); }
  int64_t fork(int64_t parent) { return keep(cache_.fork(parent)); }
  void release(int64_t s) {
    if (held_.erase(s)) cache_.release(s);
  }

 private:
  int64_t keep(int64_t s) {
    held_.insert(s);
    return s;
  }
  KvCache& cache_;
  std::set<int64_t> held_;
};

}  // namespace

int64_t beam_search_blocks(const BeamSearchParams& p, int64_t prompt_tokens, int64_t block_size) {
  const int64_t per_beam = (prompt_tokens + p.max_new_tokens + block_size - 1) / block_size;
  // Every beam at full length, twice over while a step's continuations fork before the old
  // beams go, plus the partial block each fork copies.
  return 2 * p.num_beams * per_beam + p.num_beams + 1;
}

std::vector<BeamHypothesis> beam_search(CausalStepRunner& runner, KvCache& cache, const std::vector<int32_t>& prompt,
                                        int64_t cross, int64_t vocab, const BeamSearchParams& p) {
  IA_CHECK(!prompt.empty() && vocab > 0, "beam search: an empty prompt or vocabulary");
  if (p.num_beams < 1 || p.num_beams > kMaxBeams)
    fail(ErrorKind::InvalidArgument, "num_beams must be between 1 and {}, got {}", kMaxBeams, p.num_beams);
  if (p.max_new_tokens < 1) fail(ErrorKind::InvalidArgument, "beam search needs max_new_tokens >= 1");
  if (!std::isfinite(p.length_penalty)) fail(ErrorKind::InvalidArgument, "length_penalty must be finite");
  const int64_t nb = p.num_beams, V = vocab;
  const auto prompt_len = static_cast<int64_t>(prompt.size());
  const int64_t max_length = prompt_len + p.max_new_tokens;
  const auto n_eos = static_cast<int64_t>(p.eos_token_ids.size());
  // Continuations kept per step: enough that num_beams remain unfinished if the best all end.
  const int64_t K = std::min(std::max<int64_t>(2, 1 + n_eos) * nb, nb * V);
  auto is_eos = [&](int32_t t) {
    return std::find(p.eos_token_ids.begin(), p.eos_token_ids.end(), static_cast<int64_t>(t)) != p.eos_token_ids.end();
  };

  struct Beam {
    int64_t seq = -1;
    std::vector<int32_t> tokens;  // prompt and generated; the cache holds all but the last
    float score = 0;
  };
  struct Finished {
    std::vector<int32_t> tokens;
    float score = kNeg;
    bool done = false;
  };
  struct Candidate {
    int64_t beam = 0;
    int32_t token = 0;
    float score = 0;  // running sum of log-probs
    bool hits = false;
  };

  Sequences seqs(cache);
  const int64_t first_seq = seqs.create();
  std::vector<Beam> running(static_cast<size_t>(nb));
  for (int64_t b = 0; b < nb; ++b) {
    running[static_cast<size_t>(b)].seq = first_seq;
    running[static_cast<size_t>(b)].tokens = prompt;
    running[static_cast<size_t>(b)].score = b == 0 ? 0.0f : kNeg;  // the first choices come from one beam
  }
  std::vector<Finished> finished(static_cast<size_t>(nb));
  bool improvable = true;
  int64_t cur_len = prompt_len;
  std::vector<float> acc(static_cast<size_t>(nb * V)), row(static_cast<size_t>(V));
  for (bool first = true; cur_len < max_length; first = false) {
    // a. The next-token logits of every beam (the first step: the prompt, once for all beams).
    std::vector<SeqChunk> chunks;
    if (first) {
      chunks.push_back(SeqChunk{first_seq, std::span<const int32_t>(prompt), cross});
    } else {
      for (const Beam& b : running)
        chunks.push_back(SeqChunk{b.seq, std::span<const int32_t>(&b.tokens.back(), 1), cross});
    }
    const Tensor logits = runner.step(chunks, cache);
    IA_CHECK(logits.size(1) == V, "beam search: logits of {} for a vocabulary of {}", logits.size(1), V);

    // b. Log-probs, processed, plus each beam's running score.
    for (int64_t b = 0; b < nb; ++b) {
      const Beam& beam = running[static_cast<size_t>(b)];
      log_softmax(logits.data<float>() + (first ? 0 : b) * V, row.data(), V);
      const std::vector<int32_t> generated(beam.tokens.begin() + prompt_len, beam.tokens.end());
      // A model's logits processor (Whisper's rules), one per beam and step, then the shared ones.
      if (p.processors.constraint) p.processors.constraint()->mask(row.data(), V, generated);
      apply_logits_processors(p.processors, row.data(), V, prompt, generated);
      for (int64_t v = 0; v < V; ++v) acc[static_cast<size_t>(b * V + v)] = row[static_cast<size_t>(v)] + beam.score;
    }

    // c, d. The best K continuations, and which of them stop (eos, or the length limit).
    std::vector<Candidate> cands;
    for (int64_t i : top_indices(acc, nb * V, K)) {
      Candidate c;
      c.beam = i / V;
      c.token = static_cast<int32_t>(i % V);
      c.score = acc[static_cast<size_t>(i)];
      c.hits = is_eos(c.token) || cur_len + 1 >= max_length;
      cands.push_back(c);
    }
    const auto nc = static_cast<int64_t>(cands.size());

    // e. The best num_beams that did not stop run on.
    std::vector<float> run_scores;
    for (const Candidate& c : cands) run_scores.push_back(c.hits ? c.score + kNeg : c.score);
    const std::vector<int64_t> next = top_indices(run_scores, nc, nb);

    // f. Finished hypotheses: those of the first num_beams continuations that stopped, scored
    // with the length penalty, merged with the finished ones so far; the best num_beams stay.
    bool all_done = std::all_of(finished.begin(), finished.end(), [](const Finished& f) { return f.done; });
    const float divisor = length_divisor(cur_len + 1 - prompt_len, p.length_penalty);
    std::vector<float> merged_scores;
    for (const Finished& f : finished) merged_scores.push_back(f.score);
    for (int64_t i = 0; i < nc; ++i) {
      const Candidate& c = cands[static_cast<size_t>(i)];
      float s = c.score / divisor;
      if (all_done && p.early_stopping == EarlyStopping::Done) s += kNeg;
      if (!improvable) s += kNeg;
      if (!(c.hits && i < nb)) s += kNeg;
      merged_scores.push_back(s);
    }
    std::vector<Finished> kept;
    for (int64_t m : top_indices(merged_scores, static_cast<int64_t>(merged_scores.size()), nb)) {
      if (m < nb) {
        kept.push_back(finished[static_cast<size_t>(m)]);
        continue;
      }
      const int64_t i = m - nb;
      const Candidate& c = cands[static_cast<size_t>(i)];
      Finished f;
      f.tokens = running[static_cast<size_t>(c.beam)].tokens;
      f.tokens.push_back(c.token);
      f.score = merged_scores[static_cast<size_t>(m)];
      f.done = c.hits && i < nb;
      kept.push_back(std::move(f));
    }
    finished = std::move(kept);

    // g. Whether the search goes on: a running beam could still beat the worst finished one,
    // not every hypothesis is finished under early_stopping true, and some continuation runs on.
    ++cur_len;
    const int64_t best_len = p.early_stopping == EarlyStopping::Never && p.length_penalty > 0 ? max_length - prompt_len
                                                                                              : cur_len - prompt_len;
    const float best_possible = run_scores[static_cast<size_t>(next[0])] / length_divisor(best_len, p.length_penalty);
    float worst = std::numeric_limits<float>::infinity();
    for (const Finished& f : finished) worst = std::min(worst, f.score);
    bool any = false;
    for (const Finished& f : finished) any = any || best_possible > (f.done ? worst : kNeg);
    improvable = improvable && any;
    all_done = std::all_of(finished.begin(), finished.end(), [](const Finished& f) { return f.done; });
    const bool all_stop = std::all_of(cands.begin(), cands.end(), [](const Candidate& c) { return c.hits; });
    const bool go_on = improvable && !(all_done && p.early_stopping == EarlyStopping::Done) && !all_stop;
    if (!go_on) break;

    // The running beams of the next step: each continuation forks its parent's cache sequence.
    std::vector<Beam> next_running;
    for (int64_t i : next) {
      const Candidate& c = cands[static_cast<size_t>(i)];
      const Beam& parent = running[static_cast<size_t>(c.beam)];
      Beam b;
      b.seq = seqs.fork(parent.seq);
      b.tokens = parent.tokens;
      b.tokens.push_back(c.token);
      b.score = run_scores[static_cast<size_t>(i)];
      next_running.push_back(std::move(b));
    }
    for (const Beam& b : running) seqs.release(b.seq);
    running = std::move(next_running);
  }

  std::vector<BeamHypothesis> out;
  for (const Finished& f : finished) {
    if (!f.done) continue;
    BeamHypothesis h;
    h.ids.assign(f.tokens.begin() + prompt_len, f.tokens.end());
    h.score = f.score;
    h.eos = !h.ids.empty() && is_eos(h.ids.back());
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace ia
