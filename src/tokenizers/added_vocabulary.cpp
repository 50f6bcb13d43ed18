#include "tokenizers/added_vocabulary.h"

#include <algorithm>

#include "tokenizers/unicode.h"

namespace ia::tok {

void AddedVocabulary::Trie::insert(std::string_view s, int32_t token) {
  if (s.empty()) return;
  size_t node = 0;
  for (char ch : s) {
    const auto b = static_cast<unsigned char>(ch);
    auto& next = nodes[node].next;
    auto it = std::lower_bound(next.begin(), next.end(), b,
                               [](const std::pair<unsigned char, int32_t>& e, unsigned char v) { return e.first < v; });
    if (it != next.end() && it->first == b) {
      node = static_cast<size_t>(it->second);
    } else {
      const auto child = static_cast<int32_t>(nodes.size());
      next.insert(it, {b, child});
      nodes.emplace_back();  // may reallocate: `next` is not used after this
      node = static_cast<size_t>(child);
    }
  }
  // Equal contents: the first registered wins, like HF's pattern order.
  if (nodes[node].token < 0) nodes[node].token = token;
  first_byte[static_cast<unsigned char>(s[0])] = true;
}

std::pair<int32_t, size_t> AddedVocabulary::Trie::longest_at(std::string_view s, size_t pos) const {
  std::pair<int32_t, size_t> best{-1, 0};
  if (!first_byte[static_cast<unsigned char>(s[pos])]) return best;
  size_t node = 0;
  for (size_t i = pos; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    const auto& next = nodes[node].next;
    auto it = std::lower_bound(next.begin(), next.end(), b,
                               [](const std::pair<unsigned char, int32_t>& e, unsigned char v) { return e.first < v; });
    if (it == next.end() || it->first != b) break;
    node = static_cast<size_t>(it->second);
    if (nodes[node].token >= 0) best = {nodes[node].token, i + 1 - pos};
  }
  return best;
}

void AddedVocabulary::build(std::vector<AddedToken> tokens, const Normalizer* normalizer) {
  tokens_ = std::move(tokens);
  by_content_.clear();
  by_id_.clear();
  special_.clear();
  raw_ = Trie{};
  normalized_ = Trie{};
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const auto& t = tokens_[i];
    by_content_[t.content] = t.id;
    by_id_[t.id] = i;
    if (t.special && !t.content.empty()) special_.insert(t.content);
  }
  // HF matches special tokens first, then the others, each in file order.
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const auto& t = tokens_[i];
      if (t.special != (pass == 0)) continue;
      if (!t.normalized) {
        raw_.insert(t.content, static_cast<int32_t>(i));
      } else {
        NormalizedString n(t.content);
        if (normalizer) normalizer->normalize(n);
        normalized_.insert(n.get(), static_cast<int32_t>(i));
      }
    }
  }
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

namespace {
bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t b = s.size() - 1;
  while (b > 0 && uni::is_utf8_continuation(s[b])) --b;
  size_t len = 1;
  return uni::is_word_char(uni::decode(s, b, &len));
}
bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t len = 1;
  return uni::is_word_char(uni::decode(s, 0, &len));
}
// Start of the run of whitespace that ends s.
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t b = end - 1;
    while (b > 0 && uni::is_utf8_continuation(s[b])) --b;
    size_t len = 1;
    if (!uni::is_whitespace(uni::decode(s, b, &len))) break;
    end = b;
  }
  return end;
}
// Length of the run of whitespace that starts s.
size_t leading_space_len(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 1;
    if (!uni::is_whitespace(uni::decode(s, i, &len))) break;
    i += len;
  }
  return i;
}
}  // namespace

void AddedVocabulary::split_with(const Trie& trie, NormalizedString&& n, std::vector<Split>& out) const {
  const std::string_view s = n.get();
  if (trie.empty() || s.empty()) {
    out.push_back(Split{std::move(n), std::nullopt});
    return;
  }
  size_t start_offset = 0;
  for (size_t pos = 0; pos < s.size();) {
    const auto [ti, len] = trie.longest_at(s, pos);
    if (ti < 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + len;
    pos = stop;
    const AddedToken& tok = tokens_[static_cast<size_t>(ti)];
    if (tok.single_word) {
      const bool start_space = start == 0 || !ends_with_word(s.substr(0, start));
      const bool stop_space = stop == s.size() || !starts_with_word(s.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (tok.lstrip) start = std::max(trailing_space_start(s.substr(0, start)), start_offset);
    if (tok.rstrip) stop += leading_space_len(s.substr(stop));
    pos = stop;
    if (start_offset < start) out.push_back(Split{n.slice(start_offset, start), std::nullopt});
    NormalizedString piece = n.slice(start, stop);
    std::vector<Token> toks{Token{tok.id, piece.get(), {0, piece.len()}}};
    out.push_back(Split{std::move(piece), std::move(toks)});
    start_offset = stop;
  }
  if (start_offset == 0) {
    out.push_back(Split{std::move(n), std::nullopt});
  } else if (start_offset < s.size()) {
    out.push_back(Split{n.slice(start_offset, s.size()), std::nullopt});
  }
}

void AddedVocabulary::extract_and_normalize(const Normalizer* normalizer, PreTokenizedString& pts) const {
  pts.split([this](NormalizedString&& n, std::vector<Split>& out) { split_with(raw_, std::move(n), out); });
  pts.split([this, normalizer](NormalizedString&& n, std::vector<Split>& out) {
    if (normalizer) normalizer->normalize(n);
    split_with(normalized_, std::move(n), out);
  });
}

}  // namespace ia::tok
