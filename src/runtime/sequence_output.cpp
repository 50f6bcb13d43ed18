#include "runtime/sequence_output.h"

#include <algorithm>

#include "core/error.h"

namespace ia {

SequenceOutput::SequenceOutput(const tok::Tokenizer& tokenizer, std::vector<std::string> stop,
                               std::vector<int64_t> eos_ids, int64_t max_new_tokens, int64_t min_tokens)
    : detok_(tokenizer, /*skip_special_tokens=*/true),
      stops_(std::move(stop)),
      eos_(std::move(eos_ids)),
      max_new_(max_new_tokens),
      min_tokens_(min_tokens) {}

std::string SequenceOutput::accept(int32_t id) {
  IA_CHECK(!finished(), "sequence output: a token after the end");
  ids_.push_back(id);
  if (static_cast<int64_t>(ids_.size()) < min_tokens_) {
    // Text before min_tokens bypasses the stop strings; the matcher holds nothing of it.
    std::string delta = detok_.step(id);
    text_ += delta;
    return delta;
  }
  std::string delta = stops_.push(detok_.step(id));
  // A stop string may already show in text the stream still holds (before a
  // partial character): stop at this token, as a search of decode(ids) would.
  if (!stops_.stopped() && stops_.would_stop(detok_.pending())) delta += stops_.push(detok_.flush());
  text_ += delta;
  if (stops_.stopped() || std::find(eos_.begin(), eos_.end(), id) != eos_.end()) {
    delta += finish("stop");
  } else if (static_cast<int64_t>(ids_.size()) >= max_new_) {
    delta += finish("length");
  }
  return delta;
}

std::string SequenceOutput::finish(const std::string& reason) {
  IA_CHECK(!finished(), "sequence output: finished twice");
  std::string rest = stops_.push(detok_.flush());  // an eos after a stop string still cuts the text
  rest += stops_.finish();
  reason_ = stops_.stopped() ? std::string("stop") : reason;
  text_ += rest;
  return rest;
}

}  // namespace ia
