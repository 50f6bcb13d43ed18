#include "providers/key_pool.h"

namespace ia::providers {

KeyPool::KeyPool(const std::vector<std::string>& secrets, const std::vector<std::string>& labels,
                 std::chrono::milliseconds cooldown, KeySelection selection, ClockFn clock)
    : selection_(selection) {
  // Keys are benched by trip() (ProviderClient): a 401/403 or a spent quota for the key
  // cooldown, a 429 for its wait; consecutive-failure counting is the provider breaker's job.
  constexpr int kKeyFailures = 1 << 20;
  for (size_t i = 0; i < secrets.size(); ++i)
    keys_.push_back(std::make_unique<Key>(secrets[i], i < labels.size() ? labels[i] : "key " + std::to_string(i + 1),
                                          kKeyFailures, cooldown, clock));
  if (keys_.empty()) keys_.push_back(std::make_unique<Key>("", "no key", kKeyFailures, cooldown, clock));
}

KeyPool::Key* KeyPool::acquire() {
  std::lock_guard lock(mu_);
  const size_t n = keys_.size();
  Key* best = nullptr;
  size_t best_i = 0;
  for (size_t step = 0; step < n; ++step) {
    const size_t i = (next_ + step) % n;
    Key* k = keys_[i].get();
    const BreakerState s = k->breaker.state();
    if (s == BreakerState::Open) continue;
    if (s == BreakerState::HalfOpen) {  // a benched key's probe goes first, once
      if (!k->breaker.allow()) continue;
      best = k;
      best_i = i;
      break;
    }
    if (!best || (selection_ == KeySelection::LeastLoaded && k->in_flight < best->in_flight)) {
      best = k;
      best_i = i;
      if (selection_ == KeySelection::RoundRobin) break;
    }
  }
  if (!best) return nullptr;
  next_ = (best_i + 1) % n;
  ++best->in_flight;
  ++best->requests;
  return best;
}

void KeyPool::release(Key* k) {
  if (k) --k->in_flight;
}

bool KeyPool::any_usable() const {
  for (const auto& k : keys_)
    if (k->breaker.state() != BreakerState::Open) return true;
  return false;
}

SteadyClock::time_point KeyPool::next_available() const {
  SteadyClock::time_point t = SteadyClock::time_point::max();
  for (const auto& k : keys_) t = std::min(t, k->breaker.retry_at());
  return t;
}

}  // namespace ia::providers
