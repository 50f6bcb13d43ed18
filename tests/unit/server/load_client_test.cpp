// The load client against a protocol fake: a good stream is timed chunk by chunk, and each way an
// answer can fail (an HTTP error, a stream cut short, a usage that is not what was asked, an
// embeddings answer without data) is that request's error, in one line.
#include "server/load_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <thread>

namespace ia::server::load {
namespace {

using nlohmann::json;

// Answers /v1/chat/completions by the request's "model": "ok" streams `max_tokens` one-token
// chunks with usage; "refuse" is a 429; "cut" ends without [DONE]; "short" reports one token fewer.
// /v1/embeddings: "ok" answers one embedding with usage, anything else an empty list.
class FakeServer {
 public:
  FakeServer() {
    http_.Post("/v1/chat/completions", [](const httplib::Request& req, httplib::Response& res) {
      const json body = json::parse(req.body);
      const std::string model = body["model"];
      if (model == "refuse") {
        res.status = 429;
        res.set_content(R"({"error": {"message": "too many requests"}})", "application/json");
        return;
      }
      const int64_t n = body["max_tokens"];
      std::string events = "data: {\"choices\": [{\"delta\": {\"role\": \"assistant\", \"content\": \"\"}}]}\n\n";
      for (int64_t i = 0; i < n; ++i) events += "data: {\"choices\": [{\"delta\": {\"content\": \"a\"}}]}\n\n";
      const int64_t reported = model == "short" ? n - 1 : n;
      events += "data: {\"choices\": [], \"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": " +
                std::to_string(reported) + "}}\n\n";
      if (model != "cut") events += "data: [DONE]\n\n";
      res.set_content(events, "text/event-stream");
    });
    http_.Post("/v1/embeddings", [](const httplib::Request& req, httplib::Response& res) {
      const bool ok = json::parse(req.body)["model"] == "ok";
      res.set_content(ok ? R"({"data": [{"embedding": [0.5]}], "usage": {"prompt_tokens": 5}})" : R"({"data": []})",
                      "application/json");
    });
    port_ = http_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    http_.stop();
    thread_.join();
  }
  ServerAddress address() const { return {"127.0.0.1", port_}; }

 private:
  httplib::Server http_;
  int port_ = 0;
  std::thread thread_;
};

LoadRequest chat(const std::string& model, int64_t tokens) {
  LoadRequest r;
  r.path = "/v1/chat/completions";
  r.body = json{{"model", model}, {"stream", true}, {"max_tokens", tokens}};
  r.expected_prompt_tokens = 5;
  r.expected_completion_tokens = tokens;
  return r;
}

TEST(LoadClient, TimesAStreamAndNamesEachFailure) {
  FakeServer fake;
  LoadRequest embed_ok{"/v1/embeddings", json{{"model", "ok"}}, 5, -1};
  LoadRequest embed_empty{"/v1/embeddings", json{{"model", "none"}}, -1, -1};
  const std::vector<LoadRequest> requests{chat("ok", 3),    chat("refuse", 3), chat("cut", 3),
                                          chat("short", 3), embed_ok,          embed_empty};
  const LevelResult level = run_level(fake.address(), {}, 2, requests);
  EXPECT_EQ(level.planned, 6);
  EXPECT_EQ(level.sent, 6);
  EXPECT_GT(level.duration_s, 0);
  std::map<int64_t, RequestRecord> by_index;
  for (const RequestRecord& r : level.records) by_index[r.index] = r;
  ASSERT_EQ(by_index.size(), 6u);
  const RequestRecord& ok = by_index[0];
  EXPECT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(ok.content_times_s.size(), 3u);  // the role chunk holds no text
  EXPECT_EQ(ok.completion_tokens, 3);
  EXPECT_GT(ok.ttft_s, 0);
  EXPECT_EQ(ok.ttft_s, ok.content_times_s.front());
  EXPECT_LE(ok.ttft_s, ok.e2e_s);
  EXPECT_EQ(by_index[1].error, R"(HTTP 429: {"error": {"message": "too many requests"}})");
  EXPECT_EQ(by_index[2].error, "the stream ended without data: [DONE]");
  EXPECT_EQ(by_index[3].error, "usage.completion_tokens 2 != max_tokens 3");
  EXPECT_TRUE(by_index[4].ok) << by_index[4].error;
  EXPECT_EQ(by_index[4].ttft_s, by_index[4].e2e_s);  // a whole answer: its first token is all of it
  EXPECT_EQ(by_index[5].error, "an answer without data");
  for (int64_t i : {1, 2, 3, 5}) EXPECT_FALSE(by_index[i].ok);
}

TEST(LoadClient, NothingAnswersIsAnErrorNotAThrow) {
  ClientOptions options;
  options.read_timeout_s = 5;
  LoadClient client({"127.0.0.1", 1}, options);
  const RequestRecord r = client.send(chat("ok", 1), Clock::now() + std::chrono::seconds(5));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.rfind("no answer: ", 0), 0u) << r.error;
  EXPECT_THROW(client.get("/v1/models"), std::exception);
}

}  // namespace
}  // namespace ia::server::load
