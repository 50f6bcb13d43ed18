#pragma once
// Text pieces from a worker thread (a local model or a remote provider's stream) to the
// connection's thread, which writes them as server-sent events: bounded (a client slower than
// the producer holds it back), cancelled when the client leaves, ended by a result or an error.
// The gateway's chat / completion streams and the transcription streams write their own events
// from it.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include <httplib.h>

#include "server/api_error.h"
#include "server/sse_writer.h"

namespace ia::server {

template <class Result>
struct DeltaQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> deltas;
  bool first = false, finished = false, cancelled = false;
  std::exception_ptr error;
  Result result;  // once finished without error
  static constexpr size_t kMaxQueued = 1024;

  // false: the client is gone (the producer stops).
  bool push(std::string_view d) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return deltas.size() < kMaxQueued || cancelled; });
    if (cancelled) return false;
    deltas.emplace_back(d);
    first = true;
    cv.notify_all();
    return true;
  }
  void finish(Result r, std::exception_ptr e) {
    std::lock_guard lock(mu);
    result = std::move(r);
    error = e;
    finished = true;
    cv.notify_all();
  }
  void cancel() {
    std::lock_guard lock(mu);
    cancelled = true;
    cv.notify_all();
  }
  // Waits for the first piece or the end. A failure before any piece is rethrown here: nothing
  // was sent, so the route can still answer with an error status (or the router move on).
  void await_first() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return first || finished; });
    if (!first && error) std::rethrow_exception(error);
  }
};

enum class DeltaStep {
  ClientGone,
  More,   // not finished: call again
  Ended,  // finished: the caller writes the end (error or result events)
};

// One step of the events: the pieces that arrive within 200 ms, each written by `write_delta`
// (false: the client is gone), and a keep-alive after a quiet second.
template <class Result>
DeltaStep drain_deltas(DeltaQueue<Result>& q, SseWriter& sse, std::chrono::steady_clock::time_point& last_write,
                       const std::function<bool(const std::string&)>& write_delta) {
  std::deque<std::string> deltas;
  bool finished = false;
  {
    std::unique_lock lock(q.mu);
    q.cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return !q.deltas.empty() || q.finished; });
    deltas.swap(q.deltas);
    finished = q.finished;
    q.cv.notify_all();
  }
  for (const auto& d : deltas) {
    if (!write_delta(d)) return DeltaStep::ClientGone;
    last_write = std::chrono::steady_clock::now();
  }
  if (finished) return DeltaStep::Ended;
  if (std::chrono::steady_clock::now() - last_write > std::chrono::seconds(1)) {
    if (!sse.keep_alive()) return DeltaStep::ClientGone;
    last_write = std::chrono::steady_clock::now();
  }
  return DeltaStep::More;
}

// A failure after the status went out with the first piece: an error event, as vLLM sends it.
inline bool write_error_event(SseWriter& sse, std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (...) {
    return sse.event(current_error_response().body);
  }
}

// A 200 text/event-stream answer whose body `step` writes chunk by chunk.
inline void respond_with_events(httplib::Response& res, std::function<bool(httplib::DataSink&)> step) {
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider("text/event-stream",
                                   [step = std::move(step)](size_t, httplib::DataSink& sink) { return step(sink); });
}

}  // namespace ia::server
