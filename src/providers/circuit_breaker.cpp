#include "providers/circuit_breaker.h"

namespace ia::providers {

const char* breaker_state_name(BreakerState s) {
  switch (s) {
    case BreakerState::Closed: return "closed";
    case BreakerState::Open: return "open";
    case BreakerState::HalfOpen: return "half_open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(int threshold, std::chrono::milliseconds cooldown, ClockFn clock)
    : threshold_(threshold < 1 ? 1 : threshold), cooldown_(cooldown), clock_(std::move(clock)) {}

BreakerState CircuitBreaker::state_locked() const {
  if (!open_) return BreakerState::Closed;
  return clock_() >= open_until_ ? BreakerState::HalfOpen : BreakerState::Open;
}

BreakerState CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_locked();
}

SteadyClock::time_point CircuitBreaker::retry_at() const {
  std::lock_guard lock(mu_);
  return open_ ? open_until_ : clock_();
}

bool CircuitBreaker::allow() {
  std::lock_guard lock(mu_);
  switch (state_locked()) {
    case BreakerState::Closed: return true;
    case BreakerState::Open: return false;
    case BreakerState::HalfOpen:
      if (probing_) return false;
      probing_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::record_success() {
  std::lock_guard lock(mu_);
  failures_ = 0;
  open_ = false;
  probing_ = false;
}

void CircuitBreaker::record_failure() {
  std::lock_guard lock(mu_);
  if (open_) {  // the half-open probe failed (or a call admitted before it opened): another cooldown
    probing_ = false;
    open_until_ = clock_() + cooldown_;
    return;
  }
  if (++failures_ >= threshold_) {
    open_ = true;
    probing_ = false;
    open_until_ = clock_() + cooldown_;
  }
}

void CircuitBreaker::trip(std::chrono::milliseconds for_how_long) {
  std::lock_guard lock(mu_);
  open_ = true;
  probing_ = false;
  const auto until = clock_() + for_how_long;
  if (until > open_until_) open_until_ = until;
}

}  // namespace ia::providers
