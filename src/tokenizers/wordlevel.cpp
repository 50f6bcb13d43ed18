// WordLevel: one vocabulary lookup per pre-tokenized word, unk otherwise.
#include "tokenizers/models_impl.h"

#include "tokenizers/json_util.h"

namespace ia::tok {

WordLevel::WordLevel(const nlohmann::json& j) {
  const std::string what = "model WordLevel";
  vocab_ = Vocab::from_json(js::field(j, "vocab", what), what);
  unk_token_ = js::str_or(j, "unk_token", what, "<unk>");
  unk_id_ = vocab_.find(unk_token_);
}

void WordLevel::tokenize(std::string_view word, std::vector<Token>& out) const {
  if (auto id = vocab_.find(word)) {
    out.push_back(Token{*id, std::string(word), {0, word.size()}});
    return;
  }
  if (!unk_id_) {
    fail(ErrorKind::InvalidArgument, "WordLevel: unk_token '{}' is not in the vocabulary, cannot encode '{}'",
         unk_token_, word);
  }
  out.push_back(Token{*unk_id_, unk_token_, {0, word.size()}});
}

}  // namespace ia::tok
