#include "server/transcript_stream.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "router/result_json.h"
#include "server/api_error.h"
#include "server/sse_writer.h"

namespace ia::server {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Between the worker (the transcription) and the connection's thread.
struct TranscriptQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> deltas;
  bool first = false, finished = false, cancelled = false;
  std::exception_ptr error;
  StreamedTranscript result;
  static constexpr size_t kMaxQueued = 1024;  // a client slower than the model holds it back

  bool push(std::string_view d) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return deltas.size() < kMaxQueued || cancelled; });
    if (cancelled) return false;
    deltas.emplace_back(d);
    first = true;
    cv.notify_all();
    return true;
  }
  void finish(StreamedTranscript r, std::exception_ptr e) {
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
};

class TranscriptStreamWriter {
 public:
  TranscriptStreamWriter(ServerState& s, std::shared_ptr<TranscriptQueue> q) : in_flight_(s), q_(std::move(q)) {}
  ~TranscriptStreamWriter() { q_->cancel(); }  // unfinished: the client left, the work stops
  TranscriptStreamWriter(const TranscriptStreamWriter&) = delete;
  TranscriptStreamWriter& operator=(const TranscriptStreamWriter&) = delete;

  bool step(httplib::DataSink& sink) {
    SseWriter sse(sink);
    std::deque<std::string> deltas;
    bool finished = false;
    {
      std::unique_lock lock(q_->mu);
      q_->cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return !q_->deltas.empty() || q_->finished; });
      deltas.swap(q_->deltas);
      finished = q_->finished;
      q_->cv.notify_all();
    }
    for (const auto& d : deltas) {
      if (!sse.event(router::dump_json(json{{"type", "transcript.text.delta"}, {"delta", d}}))) return false;
      last_write_ = Clock::now();
    }
    if (!finished) {
      if (Clock::now() - last_write_ > std::chrono::seconds(1)) {
        if (!sse.keep_alive()) return false;
        last_write_ = Clock::now();
      }
      return true;
    }
    if (q_->error) {
      try {
        std::rethrow_exception(q_->error);
      } catch (...) {
        if (!sse.event(current_error_response().body)) return false;
      }
    } else {
      json done{{"type", "transcript.text.done"}, {"text", q_->result.text}};
      if (!q_->result.usage.is_null()) done["usage"] = q_->result.usage;
      if (!sse.event(router::dump_json(done))) return false;
    }
    sse.close();
    return true;
  }

 private:
  InFlight in_flight_;
  std::shared_ptr<TranscriptQueue> q_;
  Clock::time_point last_write_ = Clock::now();
};

}  // namespace

void stream_transcript(ServerState& s, httplib::Response& res, TranscriptWork work) {
  auto q = std::make_shared<TranscriptQueue>();
  std::thread([&s, q, work = std::move(work)] {
    InFlight busy(s);  // the server drains only once the work has returned
    // Whatever the work gives, the events join to the done event's text: the rest of the text
    // past what was streamed goes as a last delta (a model that gives its text only at the end).
    std::string sent;
    const OnDelta push = [&](std::string_view d) {
      if (!q->push(d)) return false;
      sent += d;
      return true;
    };
    try {
      StreamedTranscript r = work(push);
      if (r.text.size() > sent.size() && r.text.compare(0, sent.size(), sent) == 0)
        push(std::string_view(r.text).substr(sent.size()));
      q->finish(std::move(r), nullptr);
    } catch (...) {
      q->finish({}, std::current_exception());
    }
  }).detach();
  {
    std::unique_lock lock(q->mu);
    q->cv.wait(lock, [&] { return q->first || q->finished; });
    if (!q->first && q->error) std::rethrow_exception(q->error);  // nothing sent yet
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  auto writer = std::make_shared<TranscriptStreamWriter>(s, q);
  res.set_chunked_content_provider("text/event-stream",
                                   [writer](size_t, httplib::DataSink& sink) { return writer->step(sink); });
}

}  // namespace ia::server
