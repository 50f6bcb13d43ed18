#include "runtime/whisper_decoding.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace ia {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void suppress(float* scores, int64_t vocab, const std::vector<int32_t>& ids) {
  for (int32_t id : ids)
    if (id >= 0 && id < vocab) scores[id] = kNegInf;
}

void mask_range(float* scores, int64_t vocab, int64_t begin, int64_t end) {
  begin = std::clamp<int64_t>(begin, 0, vocab);
  end = std::clamp<int64_t>(end, 0, vocab);
  for (int64_t i = begin; i < end; ++i) scores[i] = kNegInf;
}

// log(sum(exp(x))) over a range, -inf for an empty or all -inf one.
double log_sum_exp(const float* x, int64_t n) {
  float m = kNegInf;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  if (m == kNegInf) return -std::numeric_limits<double>::infinity();
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(x[i]) - m);
  return m + std::log(s);
}

class WhisperLogitsProcessor final : public TokenConstraint {
 public:
  WhisperLogitsProcessor(std::shared_ptr<const WhisperRules> rules, std::shared_ptr<WhisperStepTrace> trace)
      : rules_(std::move(rules)), trace_(std::move(trace)) {}

  void mask(float* logits, int64_t vocab, const std::vector<int32_t>& generated) override {
    if (trace_ && trace_->pending && !generated.empty()) trace_->chosen(generated.back());
    apply_whisper_rules(*rules_, logits, vocab, generated);
    if (!trace_) return;
    // The processed scores' log-softmax, kept until the next step says which token was chosen.
    const double lse = log_sum_exp(logits, vocab);
    trace_->last_row.resize(static_cast<size_t>(vocab));
    for (int64_t i = 0; i < vocab; ++i) trace_->last_row[static_cast<size_t>(i)] = static_cast<float>(logits[i] - lse);
    trace_->pending = true;
  }

 private:
  std::shared_ptr<const WhisperRules> rules_;
  std::shared_ptr<WhisperStepTrace> trace_;
};

}  // namespace

void WhisperStepTrace::chosen(int32_t id) {
  if (!pending) return;
  logprobs.push_back(id >= 0 && static_cast<size_t>(id) < last_row.size() ? last_row[static_cast<size_t>(id)]
                                                                          : kNegInf);
  pending = false;
}

void apply_whisper_rules(const WhisperRules& r, float* s, int64_t V, const std::vector<int32_t>& generated) {
  // SuppressTokensAtBeginLogitsProcessor, SuppressTokensLogitsProcessor, then the timestamp rules.
  if (generated.empty()) suppress(s, V, r.begin_suppress_tokens);
  suppress(s, V, r.suppress_tokens);
  if (!r.timestamps) return;

  const int64_t tb = r.timestamp_begin();
  if (r.no_timestamps_token_id >= 0 && r.no_timestamps_token_id < V) s[r.no_timestamps_token_id] = kNegInf;
  const size_t n = generated.size();
  const bool last_was_timestamp = n >= 1 && generated[n - 1] >= tb;
  const bool penultimate_was_timestamp = n < 2 || generated[n - 2] >= tb;
  if (last_was_timestamp) {
    if (penultimate_was_timestamp) {
      mask_range(s, V, tb, V);  // a pair is complete: text (or eos) next
    } else {
      mask_range(s, V, 0, r.eos_token_id);  // the pair's second timestamp, or eos
    }
  }
  // Timestamps never decrease; a segment is never empty.
  int64_t last_timestamp = -1;
  for (int32_t t : generated)
    if (t >= tb) last_timestamp = t;
  if (last_timestamp >= 0) {
    const int64_t limit = last_was_timestamp && !penultimate_was_timestamp ? last_timestamp : last_timestamp + 1;
    mask_range(s, V, tb, limit);
  }
  if (n == 0) {
    mask_range(s, V, 0, tb);  // the first token is a timestamp
    if (r.max_initial_timestamp_index) mask_range(s, V, tb + *r.max_initial_timestamp_index + 1, V);
  }
  // When the timestamps together are more likely than any one text token, a timestamp it is.
  if (tb >= V) return;
  const double lse_all = log_sum_exp(s, V);
  if (lse_all == -std::numeric_limits<double>::infinity()) return;
  const double timestamp_logprob = log_sum_exp(s + tb, V - tb) - lse_all;
  float max_text = kNegInf;
  for (int64_t i = 0; i < tb; ++i) max_text = std::max(max_text, s[i]);
  const double max_text_logprob = static_cast<double>(max_text) - lse_all;
  if (timestamp_logprob > max_text_logprob) mask_range(s, V, 0, tb);
}

ConstraintFactory whisper_logits_processor(std::shared_ptr<const WhisperRules> rules,
                                           std::shared_ptr<WhisperStepTrace> trace) {
  return [rules = std::move(rules), trace = std::move(trace)] {
    return std::make_unique<WhisperLogitsProcessor>(rules, trace);
  };
}

WhisperWindowSplit split_window(const std::vector<int32_t>& tokens, int32_t timestamp_begin, double time_offset,
                                int64_t window_frames, int64_t frames_per_position, double time_precision,
                                double seconds_per_frame) {
  WhisperWindowSplit out;
  const size_t n = tokens.size();
  auto is_ts = [&](size_t i) { return tokens[i] >= timestamp_begin; };
  // A text token then a timestamp at the end (transformers: the last two flags are [False, True]).
  const bool single_ending = n >= 2 && !is_ts(n - 2) && is_ts(n - 1);
  std::vector<size_t> slices;  // the index after each pair's first timestamp
  for (size_t i = 0; i + 1 < n; ++i)
    if (is_ts(i) && is_ts(i + 1)) slices.push_back(i + 1);
  auto position = [&](int32_t t) { return static_cast<int64_t>(t) - timestamp_begin; };
  if (!slices.empty()) {
    if (single_ending) {
      slices.push_back(n);
    } else {
      slices.back() += 1;  // the last pair's second timestamp closes the last segment
    }
    size_t last = 0;
    for (size_t cut : slices) {
      WhisperSegmentTokens seg;
      seg.tokens.assign(tokens.begin() + static_cast<std::ptrdiff_t>(last),
                        tokens.begin() + static_cast<std::ptrdiff_t>(cut));
      seg.start = time_offset + static_cast<double>(position(seg.tokens.front())) * time_precision;
      seg.end = time_offset + static_cast<double>(position(seg.tokens.back())) * time_precision;
      out.segments.push_back(std::move(seg));
      last = cut;
    }
    if (single_ending) {
      out.advance_frames = window_frames;  // no speech after the last timestamp
    } else {
      // Cut where the last complete segment ended; what follows is heard again in the next window.
      out.advance_frames = position(tokens[last - 1]) * frames_per_position;
    }
    return out;
  }
  // No pair: one segment over the window, to its last timestamp when it has one past the first.
  double end_position = static_cast<double>(window_frames) * seconds_per_frame / time_precision;
  for (size_t i = n; i-- > 0;)
    if (is_ts(i)) {
      if (tokens[i] != timestamp_begin) end_position = static_cast<double>(position(tokens[i]));
      break;
    }
  WhisperSegmentTokens seg;
  seg.tokens = tokens;
  seg.start = time_offset;
  seg.end = time_offset + end_position * time_precision;
  out.segments.push_back(std::move(seg));
  out.advance_frames = window_frames;
  return out;
}

double whisper_compression_ratio(std::span<const int32_t> tokens, int64_t vocab) {
  const int width = static_cast<int>(std::log2(static_cast<double>(std::max<int64_t>(vocab, 1))) / 8) + 1;
  std::vector<unsigned char> bytes;
  bytes.reserve(tokens.size() * static_cast<size_t>(width));
  for (int32_t t : tokens) {
    auto v = static_cast<uint64_t>(static_cast<int64_t>(t));
    for (int b = 0; b < width; ++b) bytes.push_back(static_cast<unsigned char>((v >> (8 * b)) & 0xFF));
  }
  uLongf size = compressBound(static_cast<uLong>(bytes.size()));
  std::vector<unsigned char> packed(size);
  const int rc = compress2(packed.data(), &size, bytes.data(), static_cast<uLong>(bytes.size()), Z_DEFAULT_COMPRESSION);
  IA_CHECK(rc == Z_OK, "zlib compress2 failed ({})", rc);
  return static_cast<double>(bytes.size()) / static_cast<double>(size);
}

double whisper_avg_logprob(std::span<const float> logprobs, std::span<const int32_t> tokens, int64_t eos_token_id) {
  // transformers aligns the scores with the tail of the tokens, or cuts the scores to the tokens.
  if (logprobs.size() > tokens.size()) {
    logprobs = logprobs.first(tokens.size());
  } else {
    tokens = tokens.last(logprobs.size());
  }
  double sum = 0;
  int64_t length = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] == eos_token_id) continue;
    sum += logprobs[i];
    ++length;
  }
  return sum / static_cast<double>(length + 1);
}

}  // namespace ia
