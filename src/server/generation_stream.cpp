#include "server/generation_stream.h"

namespace ia::server {

void GenerationStream::start() {
  std::lock_guard lock(mu_);
  started_at = Clock::now();
}

void GenerationStream::text(size_t sequence, std::string delta) {
  {
    std::lock_guard lock(mu_);
    deltas_.emplace_back(sequence, std::move(delta));
  }
  cv_.notify_all();
}

void GenerationStream::finish(std::vector<GenerationResult> results, GenerationStats stats) {
  {
    std::lock_guard lock(mu_);
    results_ = std::move(results);
    stats_ = stats;
    finished_at = Clock::now();
    done_ = true;
  }
  cv_.notify_all();
}

void GenerationStream::fail(std::exception_ptr error) {
  {
    std::lock_guard lock(mu_);
    error_ = std::move(error);
    finished_at = Clock::now();
    done_ = true;
  }
  cv_.notify_all();
}

bool GenerationStream::wait(std::vector<std::pair<size_t, std::string>>& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return done_ || !deltas_.empty(); });
  for (auto& d : deltas_) out.push_back(std::move(d));
  deltas_.clear();
  return done_;
}

void GenerationStream::wait_done() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return done_; });
}

std::vector<GenerationResult>& GenerationStream::results() {
  std::lock_guard lock(mu_);
  if (error_) std::rethrow_exception(error_);
  return results_;
}

}  // namespace ia::server
