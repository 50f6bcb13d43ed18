#include "core/progress.h"

#include <mutex>
#include <utility>

namespace ia {

namespace {

std::mutex g_reporter_mu;
std::shared_ptr<ProgressReporter> g_reporter;

std::shared_ptr<ProgressReporter> current_reporter() {
  std::lock_guard lock(g_reporter_mu);
  return g_reporter;
}

int64_t nanoseconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace

void set_progress_reporter(std::shared_ptr<ProgressReporter> reporter) {
  std::lock_guard lock(g_reporter_mu);
  g_reporter = std::move(reporter);
}

ProgressTask::ProgressTask(std::string label, uint64_t total, ProgressUnit unit, uint64_t done)
    : reporter_(current_reporter()),
      label_(std::move(label)),
      unit_(unit),
      done_before_(done),
      started_(Clock::now()),
      total_(total),
      done_(done),
      next_update_ns_(nanoseconds(kProgressUpdateInterval)) {
  if (reporter_) reporter_->on_start(*this);
}

ProgressTask::~ProgressTask() {
  if (reporter_ && !ended_) reporter_->on_end(*this, false);
}

void ProgressTask::finish() {
  if (ended_.exchange(true)) return;
  if (reporter_) reporter_->on_end(*this, true);
}

void ProgressTask::maybe_update() {
  // One thread wins each interval; the others go on without waiting.
  const int64_t now = nanoseconds(Clock::now() - started_);
  int64_t next = next_update_ns_.load(std::memory_order_relaxed);
  if (now < next || ended_.load(std::memory_order_relaxed)) return;
  if (!next_update_ns_.compare_exchange_strong(next, now + nanoseconds(kProgressUpdateInterval),
                                               std::memory_order_relaxed))
    return;
  reporter_->on_update(*this);
}

}  // namespace ia
