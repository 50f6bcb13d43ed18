#include "tokenizers/vocab.h"

#include "tokenizers/input_limits.h"
#include "tokenizers/json_util.h"

namespace ia::tok {

Vocab Vocab::from_json(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) fail(ErrorKind::Corrupt, "{}: 'vocab' must be an object of token -> id", what);
  if (j.size() > kMaxVocabEntries)
    fail(ErrorKind::Corrupt, "{}: vocab has {} entries, more than the limit of {}", what, j.size(), kMaxVocabEntries);
  std::unordered_map<std::string, int32_t> map;
  map.reserve(j.size());
  for (const auto& [tok, idj] : j.items()) map[tok] = js::token_id(idj, what, "vocab");
  return from_map(std::move(map));
}

Vocab Vocab::from_list(std::vector<std::string> tokens) {
  Vocab v;
  v.map_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) v.map_[tokens[i]] = static_cast<int32_t>(i);
  v.has_id_.assign(tokens.size(), true);
  v.by_id_ = std::move(tokens);
  return v;
}

Vocab Vocab::from_map(std::unordered_map<std::string, int32_t> map) {
  Vocab v;
  int32_t max_id = -1;
  v.map_.reserve(map.size());
  for (auto& [tok, id] : map) {
    max_id = std::max(max_id, id);
    v.map_.emplace(tok, id);
  }
  const size_t n = static_cast<size_t>(max_id + 1);
  if (n <= 4 * v.map_.size() + 1024) {
    v.by_id_.resize(n);
    v.has_id_.assign(n, false);
    for (const auto& [tok, id] : v.map_) {
      v.by_id_[static_cast<size_t>(id)] = tok;
      v.has_id_[static_cast<size_t>(id)] = true;
    }
  } else {
    for (const auto& [tok, id] : v.map_) v.sparse_[id] = tok;
  }
  return v;
}

}  // namespace ia::tok
