#pragma once
// A provider's API keys: each with its own breaker (a 401, a spent quota or a
// run of 429s benches that key alone) and a count of calls in flight. A call
// takes the least-loaded key whose breaker lets it through, ties going round
// robin, so load spreads and a bad key is skipped. A provider with no key (a
// local server) has one empty "key".
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "providers/circuit_breaker.h"

namespace ia::providers {

enum class KeySelection { LeastLoaded, RoundRobin };

class KeyPool {
 public:
  struct Key {
    std::string secret, label;
    CircuitBreaker breaker;
    std::atomic<int> in_flight{0};
    std::atomic<int64_t> requests{0}, failures{0};
    Key(std::string s, std::string l, int threshold, std::chrono::milliseconds cooldown, ClockFn clock)
        : secret(std::move(s)), label(std::move(l)), breaker(threshold, cooldown, std::move(clock)) {}
  };

  KeyPool(const std::vector<std::string>& secrets, const std::vector<std::string>& labels,
          std::chrono::milliseconds cooldown, KeySelection selection = KeySelection::LeastLoaded,
          ClockFn clock = SteadyClock::now);

  // The key to use now (its in-flight count taken), or nullptr when every key is benched.
  Key* acquire();
  void release(Key* k);
  // Whether some key's breaker would let a call through now.
  bool any_usable() const;
  size_t size() const { return keys_.size(); }
  const std::vector<std::unique_ptr<Key>>& keys() const { return keys_; }
  // The soonest a benched key comes back (for the error message).
  SteadyClock::time_point next_available() const;

 private:
  std::vector<std::unique_ptr<Key>> keys_;
  KeySelection selection_;
  std::mutex mu_;
  size_t next_ = 0;
};

}  // namespace ia::providers
