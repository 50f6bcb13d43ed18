#pragma once
// One request's generation as the HTTP thread sees it: text deltas as they are
// made, then the results or the error. Whatever runs the request (a worker,
// later the batch engine) writes; the HTTP thread reads, waiting with a timeout
// so that it can keep a stream alive and notice a client that left. Memory is
// bounded by the request's own max_tokens: deltas are queued, never dropped,
// so a slow reader never blocks the writer (and with it every other request).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/generation.h"

namespace ia::server {

class GenerationStream {
 public:
  using Clock = std::chrono::steady_clock;

  // Writer side.
  void start();  // left the queue; the model runs it now
  void text(size_t sequence, std::string delta);
  void finish(std::vector<GenerationResult> results, GenerationStats stats);
  void fail(std::exception_ptr error);

  // Reader side.
  // Asked between tokens by the generator: the client is gone or the request was dropped.
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  // Waits until there is something new or `timeout` passes; moves queued deltas into `out`
  // and returns true once the request has ended (results or error are then available).
  bool wait(std::vector<std::pair<size_t, std::string>>& out, std::chrono::milliseconds timeout);
  // Blocks until the request ends (non-streaming answers).
  void wait_done();
  // After the end: the results, or the error rethrown.
  std::vector<GenerationResult>& results();
  const GenerationStats& stats() const { return stats_; }

  // Timeline for metrics.
  Clock::time_point queued_at = Clock::now();
  std::optional<Clock::time_point> started_at, finished_at;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<size_t, std::string>> deltas_;
  bool done_ = false;
  std::vector<GenerationResult> results_;
  GenerationStats stats_;
  std::exception_ptr error_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace ia::server
