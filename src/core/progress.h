#pragma once
// Progress of long work (weights read at load, files written, blocks fetched or
// verified, downloads), reported by library code and shown by whoever installed
// a ProgressReporter: the CLI draws a bar on a terminal (cli/progress.h). The
// library never prints: without a reporter, which is the default, a task costs
// an atomic add and a branch per call.
//
//   ProgressTask task(fmt::format("adding {}", name), file_size, ProgressUnit::Bytes);
//   while (...) task.advance(n);  // any thread; the reporter hears of it at most 10 times a second
//   task.finish();                // a task destroyed unfinished was abandoned (an error unwinding)
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace ia {

// Cases: benchmark cases run (`bench`).
enum class ProgressUnit { Bytes, Blocks, Cases };

class ProgressTask;

// Hears of every task started while it is installed. Calls for one task come in
// order: on_start, any number of on_update, on_end. Calls for different tasks
// may come from different threads at once.
class ProgressReporter {
 public:
  virtual ~ProgressReporter() = default;
  virtual void on_start(const ProgressTask& task) = 0;
  // At most once per kProgressUpdateInterval per task.
  virtual void on_update(const ProgressTask& task) = 0;
  // `completed`: finish() was called; false when the task was abandoned.
  virtual void on_end(const ProgressTask& task, bool completed) = 0;
};

// How often a task tells its reporter about advances (a redraw costs a write to the terminal).
inline constexpr std::chrono::milliseconds kProgressUpdateInterval{100};

// The reporter of the tasks started from now on; nullptr (the default) reports nothing.
void set_progress_reporter(std::shared_ptr<ProgressReporter> reporter);

class ProgressTask {
 public:
  using Clock = std::chrono::steady_clock;

  // `total` 0: not known (yet). `done`: what an earlier run already did (a resumed download),
  // counted in done() but not in the rate.
  ProgressTask(std::string label, uint64_t total, ProgressUnit unit, uint64_t done = 0);
  ~ProgressTask();
  ProgressTask(const ProgressTask&) = delete;
  ProgressTask& operator=(const ProgressTask&) = delete;

  void advance(uint64_t n) {
    done_.fetch_add(n, std::memory_order_relaxed);
    if (reporter_) maybe_update();
  }
  void set_done(uint64_t done) {
    done_.store(done, std::memory_order_relaxed);
    if (reporter_) maybe_update();
  }
  void set_total(uint64_t total) { total_.store(total, std::memory_order_relaxed); }
  // Reports the end; call once, after every thread's last advance.
  void finish();

  const std::string& label() const { return label_; }
  ProgressUnit unit() const { return unit_; }
  uint64_t total() const { return total_.load(std::memory_order_relaxed); }
  uint64_t done() const { return done_.load(std::memory_order_relaxed); }
  uint64_t done_before() const { return done_before_; }
  Clock::time_point started() const { return started_; }

 private:
  void maybe_update();

  std::shared_ptr<ProgressReporter> reporter_;
  std::string label_;
  ProgressUnit unit_;
  uint64_t done_before_;
  Clock::time_point started_;
  std::atomic<uint64_t> total_;
  std::atomic<uint64_t> done_;
  std::atomic<int64_t> next_update_ns_;  // since started_
  std::atomic<bool> ended_{false};
};

}  // namespace ia
