#include "runtime/text_tower.h"

#include <optional>

#include "core/error.h"

namespace ia {

std::shared_ptr<tok::Tokenizer> load_text_tower_tokenizer(const std::string& dir) {
  auto t = tok::Tokenizer::from_folder(dir);
  t->with_padding(std::nullopt);
  t->with_truncation(std::nullopt);
  return t;
}

std::vector<tok::Encoding> tokenize_texts(const tok::Tokenizer& tokenizer, const std::vector<std::string>& texts,
                                          int64_t max_tokens) {
  std::vector<tok::Encoding> out;
  out.reserve(texts.size());
  for (const std::string& t : texts) out.push_back(tokenizer.encode_truncated(t, static_cast<size_t>(max_tokens)));
  return out;
}

std::vector<std::span<const int32_t>> text_token_spans(const std::vector<std::vector<int32_t>>& ids,
                                                       int64_t max_tokens) {
  if (ids.empty()) fail(ErrorKind::InvalidArgument, "no texts given");
  std::vector<std::span<const int32_t>> spans;
  spans.reserve(ids.size());
  for (const auto& v : ids) {
    if (v.empty() || static_cast<int64_t>(v.size()) > max_tokens)
      fail(ErrorKind::InvalidArgument, "a text of {} tokens (the model takes 1 to {})", v.size(), max_tokens);
    spans.emplace_back(v.data(), v.size());
  }
  return spans;
}

}  // namespace ia
