#pragma once
// Loaded things (endpoints, generators, tokenizers) kept by key, each loaded
// once. The lock covers only the map: a load runs outside it, so loading one
// model never blocks a call that uses another. A caller that asks for a key
// being loaded waits for that load (one load, one object); a load that throws
// is forgotten before its waiters see the error, so the next call tries again.
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>

namespace ia::router {

template <typename Key, typename Value>
class LoadOnceCache {
 public:
  using Ptr = std::shared_ptr<Value>;

  Ptr get(const Key& key, const std::function<Ptr()>& load) {
    std::promise<Ptr> promise;
    std::shared_future<Ptr> entry;
    bool loader = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = entries_.find(key);
      if (it != entries_.end()) {
        entry = it->second;
      } else {
        entry = promise.get_future().share();
        entries_.emplace(key, entry);
        loader = true;
      }
    }
    if (!loader) return entry.get();  // loaded, or being loaded by another caller: waits outside the lock
    try {
      promise.set_value(load());
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        entries_.erase(key);
      }
      promise.set_exception(std::current_exception());
    }
    return entry.get();
  }

  // Keys loaded or being loaded (tests).
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_.size();
  }

 private:
  std::mutex mu_;
  std::map<Key, std::shared_future<Ptr>> entries_;
};

}  // namespace ia::router
