#pragma once
// A circuit breaker: closed (calls pass; `threshold` consecutive failures open
// it), open (calls refused until `cooldown` has passed), half-open (one probe
// call passes; its success closes the breaker, its failure opens it again for
// another cooldown). trip() opens it at once, for a given time (a benched key,
// a per-day quota). The clock is injected so tests need not sleep.
#include <chrono>
#include <functional>
#include <mutex>

namespace ia::providers {

using SteadyClock = std::chrono::steady_clock;
using ClockFn = std::function<SteadyClock::time_point()>;

enum class BreakerState { Closed, Open, HalfOpen };
const char* breaker_state_name(BreakerState s);

class CircuitBreaker {
 public:
  CircuitBreaker(int threshold, std::chrono::milliseconds cooldown, ClockFn clock = SteadyClock::now);
  // Whether a call may go now; in half-open, true for one caller only (the probe) until it reports.
  bool allow();
  void record_success();
  void record_failure();
  void trip(std::chrono::milliseconds for_how_long);
  BreakerState state() const;  // Open turns HalfOpen once the cooldown has passed
  // When an open breaker lets a probe through (now if not open).
  SteadyClock::time_point retry_at() const;

 private:
  BreakerState state_locked() const;
  mutable std::mutex mu_;
  int threshold_;
  std::chrono::milliseconds cooldown_;
  ClockFn clock_;
  int failures_ = 0;
  bool open_ = false, probing_ = false;
  SteadyClock::time_point open_until_{};
};

}  // namespace ia::providers
