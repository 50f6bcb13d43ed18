#include "server/transcript_stream.h"

#include <chrono>
#include <exception>
#include <memory>
#include <thread>

#include "router/result_json.h"
#include "server/api_error.h"
#include "server/delta_stream.h"
#include "server/sse_writer.h"

namespace ia::server {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

using TranscriptQueue = DeltaQueue<StreamedTranscript>;

class TranscriptStreamWriter {
 public:
  TranscriptStreamWriter(ServerState& s, std::shared_ptr<TranscriptQueue> q) : in_flight_(s), q_(std::move(q)) {}
  ~TranscriptStreamWriter() { q_->cancel(); }  // unfinished: the client left, the work stops
  TranscriptStreamWriter(const TranscriptStreamWriter&) = delete;
  TranscriptStreamWriter& operator=(const TranscriptStreamWriter&) = delete;

  bool step(httplib::DataSink& sink) {
    SseWriter sse(sink);
    const DeltaStep step = drain_deltas(*q_, sse, last_write_, [&](const std::string& d) {
      return sse.event(router::dump_json(json{{"type", "transcript.text.delta"}, {"delta", d}}));
    });
    if (step != DeltaStep::Ended) return step == DeltaStep::More;
    if (q_->error) {
      if (!write_error_event(sse, q_->error)) return false;
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
  q->await_first();
  auto writer = std::make_shared<TranscriptStreamWriter>(s, q);
  respond_with_events(res, [writer](httplib::DataSink& sink) { return writer->step(sink); });
}

}  // namespace ia::server
