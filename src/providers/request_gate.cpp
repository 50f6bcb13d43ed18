#include "providers/request_gate.h"

#include <algorithm>

#include "core/error.h"

namespace ia::providers {

const char* priority_name(Priority p) {
  switch (p) {
    case Priority::High: return "high";
    case Priority::Normal: return "normal";
    case Priority::Low: return "low";
  }
  return "normal";
}

RequestGate::RequestGate(int max_concurrency, size_t max_waiting)
    : max_(std::max(1, max_concurrency)), max_waiting_(max_waiting) {}

void RequestGate::acquire(Priority p, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  const bool anyone_waiting = !lines_[0].empty() || !lines_[1].empty() || !lines_[2].empty();
  if (running_ < max_ && !anyone_waiting) {
    ++running_;
    return;
  }
  if (lines_[0].size() + lines_[1].size() + lines_[2].size() >= max_waiting_)
    fail(ErrorKind::Unavailable, "provider queue is full ({} waiting)", max_waiting_);
  Waiter w;
  w.ticket = next_ticket_++;
  auto& line = lines_[static_cast<int>(p)];
  line.push_back(&w);
  const bool granted = w.cv.wait_until(lock, deadline, [&] { return w.granted; });
  if (!granted) {
    line.erase(std::find(line.begin(), line.end(), &w));
    fail(ErrorKind::Unavailable, "timed out waiting for a provider slot");
  }
}

void RequestGate::release() {
  std::lock_guard lock(mu_);
  for (auto& line : lines_) {
    if (line.empty()) continue;
    Waiter* next = line.front();  // alive until it has taken mu_ again, which this call holds
    next->granted = true;         // the slot passes straight to the waiter: running_ unchanged
    line.pop_front();
    next->cv.notify_one();
    return;
  }
  --running_;
}

int RequestGate::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

size_t RequestGate::waiting() const {
  std::lock_guard lock(mu_);
  return lines_[0].size() + lines_[1].size() + lines_[2].size();
}

}  // namespace ia::providers
