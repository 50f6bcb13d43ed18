#pragma once
// The pieces of Whisper's decoding that are not the model, as transformers' WhisperGenerationMixin
// runs them (transformers/generation/logits_process.py, models/whisper/generation_whisper.py):
//   - the logits rules: SuppressTokensAtBeginLogitsProcessor (begin_suppress_tokens at the first
//     generated token), SuppressTokensLogitsProcessor (suppress_tokens), and with timestamps
//     WhisperTimeStampLogitsProcessor (no <|notimestamps|>; timestamps in pairs except before eos;
//     never decreasing; the first token a timestamp, at most max_initial_timestamp_index; a
//     timestamp forced when their summed probability beats every text token), in that order;
//   - splitting a window's tokens at its timestamps into segments, and where the next 30-s window
//     starts (`_retrieve_segment`);
//   - the compression ratio and the average log-probability that decide the temperature fallback
//     (`_retrieve_compression_ratio`, `_retrieve_avg_logprobs`).
// All are functions of their arguments, so they are tested on crafted logits and token lists.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "runtime/sampling.h"

namespace ia {

struct WhisperRules {
  std::vector<int32_t> suppress_tokens, begin_suppress_tokens;
  bool timestamps = false;
  int32_t no_timestamps_token_id = -1;  // with timestamps: suppressed; timestamp_begin is the next id
  int32_t eos_token_id = -1;            // with timestamps: the text tokens are those below it
  std::optional<int64_t> max_initial_timestamp_index;

  int32_t timestamp_begin() const { return no_timestamps_token_id + 1; }
};

// Applies the rules to one row of scores (logits, or log-probabilities in beam search) in place,
// given the tokens generated so far in this window (after the decoder prompt). Ids outside the
// row are ignored (a config may list ids a small vocabulary lacks, as torch.isin ignores them).
void apply_whisper_rules(const WhisperRules& rules, float* scores, int64_t vocab,
                         const std::vector<int32_t>& generated);

// What the sampler keeps of each step for the temperature fallback: the log-probability of the
// chosen token under the processed scores (as transformers' output scores; sampling's temperature
// is not part of them).
struct WhisperStepTrace {
  std::vector<float> logprobs;  // one per generated token whose choice has been seen
  std::vector<float> last_row;  // the previous step's processed log-probabilities
  bool pending = false;
  // The token chosen from last_row (the last one, when generation has ended).
  void chosen(int32_t id);
};

// The rules as a logits processor of the generation loop (GenerationRequest::logits_processor);
// with a trace, each step's processed log-probabilities are recorded there.
ConstraintFactory whisper_logits_processor(std::shared_ptr<const WhisperRules> rules,
                                           std::shared_ptr<WhisperStepTrace> trace = nullptr);

struct WhisperSegmentTokens {
  double start = 0, end = 0;    // seconds
  std::vector<int32_t> tokens;  // timestamps included
};

struct WhisperWindowSplit {
  std::vector<WhisperSegmentTokens> segments;
  int64_t advance_frames = 0;  // mel frames from this window's start to the next window's
};

// A window's generated tokens (eos removed) cut into segments at each pair of consecutive
// timestamps; a single timestamp at the end means the speech ended there and the whole window
// was heard, otherwise the next window starts at the last complete timestamp (tokens after it are
// dropped). Without a pair, one segment for the whole window, ending at its last timestamp if any.
// time_offset: the window's start (s); window_frames: its mel frames (<= 3000); frames_per_position:
// mel frames per timestamp step (the stem's stride, 2); time_precision: seconds per step (0.02).
WhisperWindowSplit split_window(const std::vector<int32_t>& tokens, int32_t timestamp_begin, double time_offset,
                                int64_t window_frames, int64_t frames_per_position = 2, double time_precision = 0.02,
                                double seconds_per_frame = 0.01);

// len(token bytes) / len(zlib.compress(token bytes)), each id written little-endian in
// int(log2(vocab) / 8) + 1 bytes.
double whisper_compression_ratio(std::span<const int32_t> tokens, int64_t vocab);

// Sum of the log-probs of the tokens that are not eos, divided by (their count + 1).
double whisper_avg_logprob(std::span<const float> logprobs, std::span<const int32_t> tokens, int64_t eos_token_id);

}  // namespace ia
