#include "tokenizers/vocab.h"

#include "tokenizers/json_util.h"

namespace ia::tok {

Vocab Vocab::from_json(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) fail(ErrorKind::Corrupt, "{}: 'vocab' must be an object of token -> id", what);
  Vocab v;
  v.map_.reserve(j.size());
  int32_t max_id = -1;
  for (const auto& [tok, idj] : j.items()) {
    const int32_t id = js::token_id(idj, what, "vocab");
    v.map_[tok] = id;
    max_id = std::max(max_id, id);
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
