#pragma once
// A bounded, thread-safe memo of word -> model output (HF's BPE cache idea):
// sharded so encode_batch threads rarely meet on one lock; once a shard is
// full it stops admitting words (no eviction bookkeeping on the hot path).
#include <array>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizers/vocab.h"

namespace ia::tok {

template <typename T>
class WordCache {
 public:
  static constexpr size_t kShards = 64;
  static constexpr size_t kPerShard = 10000 / kShards * 4;  // ~40k words in all

  bool get(std::string_view word, std::vector<T>& out) const {
    const Shard& s = shard(word);
    std::shared_lock lock(s.mu);
    auto it = s.map.find(word);
    if (it == s.map.end()) return false;
    out.assign(it->second.begin(), it->second.end());
    return true;
  }
  void put(std::string_view word, const std::vector<T>& value) {
    Shard& s = shard(word);
    std::unique_lock lock(s.mu);
    if (s.map.size() >= kPerShard) return;
    s.map.emplace(std::string(word), value);
  }

 private:
  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, std::vector<T>, StringHash, std::equal_to<>> map;
  };
  Shard& shard(std::string_view w) { return shards_[StringHash{}(w) % kShards]; }
  const Shard& shard(std::string_view w) const { return shards_[StringHash{}(w) % kShards]; }
  std::array<Shard, kShards> shards_;
};

}  // namespace ia::tok
