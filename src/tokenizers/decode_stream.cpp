#include "tokenizers/decode_stream.h"

namespace ia::tok {

namespace {

// Whether `text` ends where later tokens cannot change it: not inside a UTF-8
// sequence, and not on U+FFFD (what ByteLevel and ByteFallback make of bytes
// whose character is still arriving).
bool ends_final(const std::string& text) {
  if (text.empty()) return true;
  if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) return false;
  // Walk back to the last lead byte and check its sequence is complete.
  size_t i = text.size() - 1, back = 0;
  while (i > 0 && back < 3 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) {
    --i;
    ++back;
  }
  const auto c = static_cast<unsigned char>(text[i]);
  const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  return i + len <= text.size();
}

bool is_byte_token(const std::string& t) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); };
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && hex(t[3]) && hex(t[4]);
}

}  // namespace

bool DecodeStream::skipped(int32_t id) const {
  // Unknown ids and (when skipping) special tokens never reach the decoder;
  // a special token is the one whose text depends on skip_special_tokens.
  return !skip_special_ || !tok_->decode({id}, true).empty() ? false : !tok_->decode({id}, false).empty();
}

std::string DecodeStream::step(int32_t id) {
  window_.push_back(id);
  // ByteFallback decodes a run of <0xNN> tokens as a whole and turns every byte
  // of an invalid run into U+FFFD, a valid byte before it included: nothing of
  // the run is final until a token that is not a byte ends it.
  if (const auto t = tok_->id_to_token(id)) {
    if (is_byte_token(*t)) {
      in_byte_run_ = true;
    } else if (in_byte_run_ && !skipped(id)) {
      in_byte_run_ = false;
    }
  }
  std::string text = tok_->decode(window_, skip_special_);
  const bool grows = text.size() > prefix_.size() && text.compare(0, prefix_.size(), prefix_) == 0;
  if (!grows || in_byte_run_ || !ends_final(text)) {
    pending_ = grows ? text.substr(prefix_.size()) : std::string();
    return {};
  }
  std::string out = text.substr(prefix_.size());
  pending_.clear();
  // The next context is the piece just emitted, on its own when it decodes to
  // text by itself: then its first token absorbs every start-of-text rule
  // (Metaspace, WordPiece, Strip) and the window stays a few tokens long.
  // A piece that decodes to nothing alone (a lone "▁" that Metaspace strips)
  // keeps the older context in front of it.
  std::vector<int32_t> piece(window_.begin() + static_cast<std::ptrdiff_t>(context_), window_.end());
  std::string piece_text = tok_->decode(piece, skip_special_);
  if (!piece_text.empty()) {
    window_ = std::move(piece);
    prefix_ = std::move(piece_text);
  } else {
    prefix_ = std::move(text);
  }
  context_ = window_.size();
  return out;
}

std::string DecodeStream::flush() {
  std::string out;
  if (context_ < window_.size()) {
    std::string text = tok_->decode(window_, skip_special_);
    if (text.size() > prefix_.size() && text.compare(0, prefix_.size(), prefix_) == 0)
      out = text.substr(prefix_.size());
  }
  window_.clear();
  context_ = 0;
  prefix_.clear();
  pending_.clear();
  in_byte_run_ = false;
  return out;
}

}  // namespace ia::tok
