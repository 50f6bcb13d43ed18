// WordPiece: greedy longest-match-first over the vocabulary, as HF
// `tokenizers` models::wordpiece does (byte offsets within the word).
#include "tokenizers/models_impl.h"

#include "tokenizers/json_util.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

WordPiece::WordPiece(const nlohmann::json& j) {
  const std::string what = "model WordPiece";
  vocab_ = Vocab::from_json(js::field(j, "vocab", what), what);
  unk_token_ = js::str_or(j, "unk_token", what, "[UNK]");
  prefix_ = js::str_or(j, "continuing_subword_prefix", what, "##");
  const int64_t m = js::integer_or(j, "max_input_chars_per_word", what, 100);
  if (m < 0) fail(ErrorKind::Corrupt, "{}: max_input_chars_per_word must be >= 0", what);
  max_chars_ = static_cast<size_t>(m);
  unk_id_ = vocab_.find(unk_token_);
}

void WordPiece::push_unk(std::string_view word, std::vector<Token>& out) const {
  if (!unk_id_) {
    fail(ErrorKind::InvalidArgument, "WordPiece: unk_token '{}' is not in the vocabulary, cannot encode '{}'",
         unk_token_, word);
  }
  out.push_back(Token{*unk_id_, unk_token_, {0, word.size()}});
}

void WordPiece::tokenize(std::string_view word, std::vector<Token>& out) const {
  if (uni::char_count(word) > max_chars_) {
    push_unk(word, out);
    return;
  }
  const size_t first = out.size();
  // One buffer for every candidate: prefix + substring, no per-try allocation.
  thread_local std::string cand;
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    bool found = false;
    while (start < end) {
      cand.clear();
      if (start > 0) cand += prefix_;
      cand.append(word.substr(start, end - start));
      if (auto id = vocab_.find(cand)) {
        out.push_back(Token{*id, cand, {start, end}});
        found = true;
        break;
      }
      // Drop the last char of the candidate (step back over UTF-8 continuation bytes).
      do {
        --end;
      } while (end > start && uni::is_utf8_continuation(word[end]));
    }
    if (!found) {
      out.resize(first);
      push_unk(word, out);
      return;
    }
    start = end;
  }
}

}  // namespace ia::tok
