#pragma once
// A token <-> id table shared by the vocabulary-based models. Lookups take a
// string_view without allocating (transparent hashing).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace ia::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class Vocab {
 public:
  // Parses a {"token": id, ...} object; `what` names the component in errors.
  static Vocab from_json(const nlohmann::json& j, const std::string& what);
  // Ids are the positions in `tokens` (Unigram's list vocabulary); a repeated
  // token maps to its last id, as HF's token_to_ids does.
  static Vocab from_list(std::vector<std::string> tokens);
  // A {"token": id} map built in code (legacy vocab files).
  static Vocab from_map(std::unordered_map<std::string, int32_t> map);

  std::optional<int32_t> find(std::string_view token) const {
    auto it = map_.find(token);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> token(int32_t id) const {
    if (id < 0) return std::nullopt;
    if (!sparse_.empty()) {
      auto it = sparse_.find(id);
      if (it == sparse_.end()) return std::nullopt;
      return it->second;
    }
    if (static_cast<size_t>(id) >= by_id_.size() || !has_id_[static_cast<size_t>(id)]) return std::nullopt;
    return by_id_[static_cast<size_t>(id)];
  }
  size_t size() const { return map_.size(); }
  std::vector<std::string_view> tokens() const {
    std::vector<std::string_view> out;
    out.reserve(map_.size());
    for (const auto& kv : map_) out.emplace_back(kv.first);
    return out;
  }

 private:
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> map_;
  std::vector<std::string> by_id_;
  std::vector<bool> has_id_;
  // Used instead of by_id_ when ids are too sparse for a dense table (a
  // hostile file must not make us allocate by its largest id).
  std::unordered_map<int32_t, std::string> sparse_;
};

}  // namespace ia::tok
