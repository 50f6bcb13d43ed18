// The server-load benchmark suite: a ModelServer on loopback and the load client against it.
#include "server/server_load_suite.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iterator>
#include <memory>
#include <thread>

#include "benchmarks/bench_suite.h"
#include "core/dtype.h"
#include "core/error.h"
#include "server/load_client.h"
#include "server/model_server.h"
#include "server/server_state.h"

namespace ia::server {

namespace {

namespace bm = ia::benchmarks;

// The concurrency levels of a run: the request's, else these.
std::vector<int64_t> levels(const bm::SuiteContext& ctx) {
  return bm::sizes_or_defaults(ctx.request.concurrency, ctx, {1, 4}, {1, 8, 32});
}

// The server, listening on 127.0.0.1 at a free port with the model loaded; stopped when this
// goes, also when what owns it fails to construct.
class LoopbackServer {
 public:
  explicit LoopbackServer(ServeOptions o) : server_(std::move(o)) {
    port_ = server_.bind();
    http_ = std::thread([this] {
      server_.run();
      returned_ = true;
    });
    try {
      // A stop() before run() accepts would not end it: wait for it to listen before anything can fail.
      while (!server_.listening()) {
        if (returned_) fail(ErrorKind::Unavailable, "server-load: the server on 127.0.0.1:{} did not listen", port_);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      server_.load_models();
    } catch (...) {
      server_.stop();
      http_.join();
      throw;
    }
  }
  ~LoopbackServer() {
    server_.stop();
    http_.join();
  }
  int port() const { return port_; }
  const ServerState& state() const { return server_.state(); }

 private:
  ModelServer server_;
  int port_ = 0;
  std::atomic<bool> returned_{false};
  std::thread http_;
};

class ServerLoadSuite : public bm::LoadedSuite {
 public:
  explicit ServerLoadSuite(const bm::SuiteContext& ctx)
      : ctx_(ctx), server_(options(ctx)), at_{"127.0.0.1", server_.port()}, setup_(at_) {
    const DeclaredModel& m = server_.state().models.front();
    model_ = m.name;
    max_model_len_ = m.max_model_len;
    if (m.generates)
      endpoint_ = m.has_chat_template ? "chat" : "completions";
    else if (m.embeds)
      endpoint_ = "embeddings";
    else
      fail(ErrorKind::InvalidArgument,
           "{}: the server serves a {} model for {}: the server-load suite sends chat, completion or embedding "
           "requests",
           ctx.request.model, ctx.kind.family, m.serves);
  }

  std::vector<bm::BenchCase> plan() const override {
    const bm::BenchRequest& req = ctx_.request;
    const bool generates = endpoint_ != "embeddings";
    if (!generates && !req.new_tokens.empty())
      fail(ErrorKind::InvalidArgument, "server-load: {} is an embedding model: its requests generate no tokens",
           req.model);
    std::vector<bm::BenchCase> cases;
    for (int64_t c : levels(ctx_))
      for (int64_t s : bm::sizes_or_defaults(req.seq_lens, ctx_, {16}, {128}))
        for (int64_t n :
             generates ? bm::sizes_or_defaults(req.new_tokens, ctx_, {16}, {64}) : std::vector<int64_t>{0}) {
          if (max_model_len_ > 0 && s + n > max_model_len_)
            fail(ErrorKind::InvalidArgument, "server-load: {} prompt + {} new tokens do not fit the model's {} tokens",
                 s, n, max_model_len_);
          cases.push_back({"server-load", c, s, n});
        }
    return cases;
  }

  void run(const bm::BenchCase& c, bm::BenchResult& row) override {
    load::PromptMaker prompts(setup_, model_,
                              {.endpoint = endpoint_, .prompt_tokens = c.seq_len, .output_tokens = c.new_tokens});
    std::vector<load::RequestRecord> timed;
    int64_t not_sent = 0;
    bm::Measurement m = bm::repeat_case(ctx_.request, [&](int rep) {
      std::vector<load::LoadRequest> requests;  // made before the clock starts (tokenize calls)
      for (int64_t i = 0; i < c.batch; ++i) requests.push_back(prompts.make(next_request_++));
      load::LevelResult level = load::run_level(at_, {}, c.batch, requests);
      if (rep >= 0) {  // (warm-up bursts are not counted)
        not_sent += level.planned - level.sent;
        std::move(level.records.begin(), level.records.end(), std::back_inserter(timed));
      }
      return level.duration_s * 1e3;
    });
    std::vector<double> ttft, itl;
    int64_t ok = 0, tokens = 0;
    for (const load::RequestRecord& r : timed) {
      if (!r.ok) {
        if (m.error.empty()) m.error = r.error;
        continue;
      }
      ++ok;
      tokens += r.completion_tokens;
      ttft.push_back(r.ttft_s * 1e3);
      // Between consecutive chunks of text (a chunk may carry more than one token).
      for (size_t i = 1; i < r.content_times_s.size(); ++i)
        itl.push_back((r.content_times_s[i] - r.content_times_s[i - 1]) * 1e3);
    }
    if (not_sent > 0 && m.error.empty()) m.error = "not sent within the level's time limit";
    m.requests = static_cast<int64_t>(timed.size()) + not_sent;
    m.errors = m.requests - ok;
    const bool generates = endpoint_ != "embeddings";
    const double reps = static_cast<double>(ctx_.request.repetitions);
    m.items_per_run = static_cast<double>(generates ? tokens : ok) / reps;
    m.unit = generates ? "tokens" : "sequences";
    if (m.ms.median > 0) m.requests_per_s = static_cast<double>(ok) / reps / (m.ms.median / 1e3);
    m.ttft_ms = bm::sample_stats(ttft);
    m.itl_ms = bm::sample_stats(itl);
    row.measurement = m;
  }

 private:
  static ServeOptions options(const bm::SuiteContext& ctx) {
    ServeOptions o;
    o.models = {ctx.dir};
    o.host = "127.0.0.1";
    o.port = 0;  // a free one
    o.device = ctx.device.str();
    o.dtype = dtype_name(ctx.dtype);
    o.quantize = ctx.request.quantize;
    o.kv_cache_dtype = ctx.request.kv_cache_dtype;
    o.ipfs_gateway = false;
    // Room for the most requests at once: their connections, and their sequences waiting for a
    // place in the batch, so that a level measures the queue rather than refusals (503, 429).
    const std::vector<int64_t> ls = levels(ctx);
    const auto most = static_cast<size_t>(*std::max_element(ls.begin(), ls.end()));
    o.max_connections = std::max(o.max_connections, most + 8);
    o.max_queue = std::max(o.max_queue, most);
    return o;
  }

  const bm::SuiteContext& ctx_;
  LoopbackServer server_;
  load::ServerAddress at_;
  load::LoadClient setup_;  // the calls that make prompts
  std::string model_, endpoint_;
  int64_t max_model_len_ = 0;
  uint64_t next_request_ = 0;  // every request of the run has its own words
};

}  // namespace

void register_server_load_suite() {
  bm::register_suite({.name = "server-load",
                      .seq_len_meaning = "prompt tokens",
                      .by_concurrency = true,
                      .takes_quantization = true,
                      .load = [](const bm::SuiteContext& ctx) -> std::unique_ptr<bm::LoadedSuite> {
                        return std::make_unique<ServerLoadSuite>(ctx);
                      }});
}

}  // namespace ia::server
