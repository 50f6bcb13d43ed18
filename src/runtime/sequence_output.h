#pragma once
// The output side of one generating sequence: each sampled token is detokenized
// once (tok::DecodeStream), its text goes through the stop strings (StopMatcher),
// and the sequence ends on eos, a stop string or its token budget, with the same
// semantics everywhere: the eos id is kept in the
// ids, the text ends before the earliest stop string (also one already visible in
// text the stream still holds), and the deltas concatenate to the final text.
// Generator's loop and the continuous-batching engine both use it, one per sequence.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/stop_matcher.h"
#include "tokenizers/decode_stream.h"
#include "tokenizers/tokenizer.h"

namespace ia {

class SequenceOutput {
 public:
  // `tokenizer` must outlive this. `eos_ids` end the sequence (empty with ignore_eos). Stop
  // strings in the text of the first `min_tokens` tokens do not end it (vLLM's min_tokens; the
  // sampler keeps eos out of them).
  SequenceOutput(const tok::Tokenizer& tokenizer, std::vector<std::string> stop, std::vector<int64_t> eos_ids,
                 int64_t max_new_tokens, int64_t min_tokens = 0);

  // Takes the next generated token; returns the text that became final with it,
  // which includes the held rest when the token ends the sequence.
  std::string accept(int32_t id);
  // Ends the sequence now (cancelled); returns the held rest of its text.
  std::string finish(const std::string& reason);

  bool finished() const { return reason_.has_value(); }
  // "stop" (eos or a stop string), "length", or what finish() was given.
  const std::string& finish_reason() const { return *reason_; }
  const std::vector<int32_t>& ids() const { return ids_; }
  const std::string& text() const { return text_; }

 private:
  tok::DecodeStream detok_;  // generated ids to final text, special tokens skipped
  StopMatcher stops_;        // that text, cut before a stop string
  std::vector<int64_t> eos_;
  int64_t max_new_;
  int64_t min_tokens_;
  std::vector<int32_t> ids_;
  std::string text_;
  std::optional<std::string> reason_;
};

}  // namespace ia
