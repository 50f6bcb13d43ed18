#pragma once
// Wall time per op, for finding where a forward pass spends its time without a
// profiler (perf is often unavailable in VMs and containers). Off unless
// IA_OP_TIMES=1 is in the environment; then each timed op adds its elapsed time
// to a per-name total, and the totals go to stderr at exit (or on demand).
// Device backends that run asynchronously would need a sync to be meaningful;
// the CPU backend is synchronous.
#include <chrono>
#include <cstdint>

namespace ia::ops {

bool op_times_enabled();
void record_op_time(const char* name, int64_t ns);
// Prints and clears the totals (most time first).
void print_op_times();

class OpTimer {
 public:
  explicit OpTimer(const char* name) : name_(op_times_enabled() ? name : nullptr) {
    if (name_) t0_ = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    if (name_)
      record_op_time(
          name_, std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_).count());
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const char* name_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace ia::ops
