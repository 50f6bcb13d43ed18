#pragma once
// A concurrency limit with a waiting line in three priorities: a call takes a
// slot at once when one is free, else waits; a freed slot goes to the oldest
// high-priority waiter, then normal, then low. A full line refuses at once
// (Unavailable), and a waiter gives up at its deadline.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

namespace ia::providers {

enum class Priority { High = 0, Normal = 1, Low = 2 };
const char* priority_name(Priority p);

class RequestGate {
 public:
  RequestGate(int max_concurrency, size_t max_waiting);
  // Blocks until a slot is free; throws ia::Error (Unavailable) when the line is full or
  // the deadline passes first.
  void acquire(Priority p, std::chrono::steady_clock::time_point deadline);
  void release();
  int running() const;
  size_t waiting() const;

  // Holds a slot for its lifetime.
  class Slot {
   public:
    Slot(RequestGate& g, Priority p, std::chrono::steady_clock::time_point deadline) : g_(g) {
      g_.acquire(p, deadline);
    }
    ~Slot() { g_.release(); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    RequestGate& g_;
  };

 private:
  // Each waiter has its own condition: a freed slot wakes the one waiter it goes to. (One shared
  // condition woke every waiter at each release: with a thousand streams queued behind a limit
  // of 16, a million wake-ups, 12 s of CPU in the gateway benchmark.)
  struct Waiter {
    uint64_t ticket = 0;
    bool granted = false;
    std::condition_variable cv;
  };
  mutable std::mutex mu_;
  int max_, running_ = 0;
  size_t max_waiting_;
  uint64_t next_ticket_ = 0;
  std::deque<Waiter*> lines_[3];
};

}  // namespace ia::providers
