#include "tokenizers/pre_tokenized.h"

#include "tokenizers/unicode.h"

namespace ia::tok {

PreTokenizedString::PreTokenizedString(std::string original) : original_(std::move(original)) {
  splits_.push_back(Split{NormalizedString(original_), std::nullopt});
}

void PreTokenizedString::split(const std::function<void(NormalizedString&&, std::vector<Split>&)>& fn) {
  std::vector<Split> next;
  next.reserve(splits_.size());
  std::vector<Split> produced;
  for (auto& s : splits_) {
    if (s.tokens) {
      next.push_back(std::move(s));
      continue;
    }
    produced.clear();
    fn(std::move(s.normalized), produced);
    for (auto& p : produced) {
      if (!p.normalized.empty()) next.push_back(std::move(p));
    }
  }
  splits_ = std::move(next);
}

void PreTokenizedString::split_by(const std::function<Matches(std::string_view)>& matcher, SplitBehavior behavior) {
  split([&](NormalizedString&& n, std::vector<Split>& out) {
    for (auto& piece : n.split(matcher(n.get()), behavior)) out.push_back(Split{std::move(piece), std::nullopt});
  });
}

void PreTokenizedString::tokenize(const Model& model) {
  for (auto& s : splits_) {
    if (s.tokens) continue;
    std::vector<Token> toks;
    model.tokenize(s.normalized.get(), toks);
    s.tokens = std::move(toks);
  }
}

Encoding PreTokenizedString::into_encoding(int32_t type_id) const {
  Encoding enc;
  // Byte -> char index of the input: HF reports offsets in code points.
  std::vector<uint32_t> char_of_byte(original_.size());
  uint32_t ci = 0;
  for (size_t b = 0; b < original_.size(); ++b) {
    if (b > 0 && !uni::is_utf8_continuation(original_[b])) ++ci;
    char_of_byte[b] = ci;
  }
  auto to_chars = [&](Offsets o) -> Offsets {
    // Same rules as HF's BytesToCharOffsetConverter, including its fallback
    // of keeping byte offsets when the start lies past the end.
    if (o.first >= original_.size()) return o;
    const size_t s = char_of_byte[o.first];
    if (o.second < original_.size()) return {s, char_of_byte[o.second]};
    if (o.second == 0) return {s, s + 1};
    return {s, char_of_byte[o.second - 1] + 1};
  };
  for (const auto& split : splits_) {
    if (!split.tokens) continue;
    const size_t shift = split.normalized.offsets_original().first;
    for (const auto& t : *split.tokens) {
      Offsets o = t.offsets;
      if (auto r = split.normalized.convert_normalized(t.offsets.first, t.offsets.second)) {
        o = {shift + r->first, shift + r->second};
      }
      enc.ids.push_back(t.id);
      enc.tokens.push_back(t.value);
      enc.offsets.push_back(to_chars(o));
      enc.type_ids.push_back(type_id);
      enc.special_tokens_mask.push_back(0);
      enc.attention_mask.push_back(1);
    }
  }
  return enc;
}

}  // namespace ia::tok
