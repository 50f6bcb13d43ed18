#pragma once
// A map by string key of at most `capacity` entries that forgets the least recently used one
// when full: the CPU backend's caches of oneDNN primitives (matmul, convolution). Not locked:
// its owner holds its own lock around every call.
#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

namespace ia::cpu {

template <class Value>
class LruMap {
 public:
  explicit LruMap(size_t capacity) : capacity_(capacity) {}

  // The entry, now the most recent; null when absent.
  const Value* find(const std::string& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second.position);
    return &it->second.value;
  }

  // Keeps the entry already there (another thread made the same one first); else adds this one
  // and forgets the least recently used beyond the capacity.
  const Value& insert(const std::string& key, Value value) {
    if (const Value* have = find(key)) return *have;
    order_.push_front(key);
    auto it = entries_.emplace(key, Entry{std::move(value), order_.begin()}).first;
    while (entries_.size() > capacity_) {
      entries_.erase(order_.back());
      order_.pop_back();
    }
    return it->second.value;
  }

  size_t size() const { return entries_.size(); }
  void clear() {
    entries_.clear();
    order_.clear();
  }

 private:
  struct Entry {
    Value value;
    std::list<std::string>::iterator position;
  };
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;  // front = most recent
  size_t capacity_;
};

}  // namespace ia::cpu
