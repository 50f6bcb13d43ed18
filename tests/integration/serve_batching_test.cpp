// `serve` on the continuous-batching engine (issue 13's concurrency cases): concurrent
// streams equal their solo runs, a shared system prompt is served from the prefix cache,
// a stream whose client leaves frees its KV blocks, and a full queue answers 429.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "integration/serve_client.h"

namespace ia::test {
namespace {

using nlohmann::json;

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";

json chat(const json& messages, int max_tokens, bool stream) {
  json body{{"model", "llama"}, {"messages", messages}, {"max_tokens", max_tokens}, {"temperature", 0}};
  if (stream) body["stream"] = true;
  return body;
}

json user(const std::string& content) {
  return json::array({json{{"role", "user"}, {"content", content}}});
}

// A stream's text and finish reason, from its chunks.
struct StreamedChoice {
  std::string text, finish;
  bool done = false;  // ended with [DONE]
};
StreamedChoice read_choice(const SseAnswer& s) {
  StreamedChoice c;
  for (const std::string& e : s.events) {
    if (e == "[DONE]") {
      c.done = true;
      continue;
    }
    const json j = json::parse(e);
    if (j.contains("error")) c.finish = "error: " + j.dump();
    if (!j.contains("choices") || j["choices"].empty()) continue;
    const json& choice = j["choices"][0];
    if (choice["delta"].contains("content")) c.text += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) c.finish = choice["finish_reason"];
  }
  return c;
}

double metric(const ServeProcess& s, const std::string& name) {
  return metric_value(s, name + "{model=\"llama\"}");
}

// 64 streaming greedy chats at once (several prompts, lengths and stop conditions) each give
// the text and finish reason of the same request sent alone, and the engine ran them in
// shared steps (its batch-size histogram saw steps of more than one sequence).
TEST(ServeBatching, SixtyFourConcurrentStreamsEqualTheirSoloRuns) {
  // Solo references from a server of their own, one request at a time; the concurrent run on a
  // second server whose steps take 2 ms longer (test instrumentation), so that the 64 overlap
  // however the two cores are shared.
  ServeProcess solo({"-m", kModels + "llama"});
  ServeProcess batched({"-m", kModels + "llama", "--max-queue", "256"}, {{"IA_SERVE_TEST_TOKEN_DELAY_MS", "2"}});
  ASSERT_TRUE(solo.ready()) << solo.log();
  ASSERT_TRUE(batched.ready()) << batched.log();
  const std::vector<std::string> topics = {
      "Hello there!", "Tell me a story", "What is 2+2?", "ÀÉÎ 漢字 😀", "List three colours.", "Why is the sky?", "a",
      "Once upon a"};
  std::vector<json> bodies;
  for (int i = 0; i < 64; ++i) {
    json body = chat(user(topics[static_cast<size_t>(i) % topics.size()]), 4 + (i * 7) % 29, true);
    if (i % 3 == 0) body["ignore_eos"] = true;
    if (i % 5 == 0) body["stop"] = json::array({"e"});
    bodies.push_back(body);
  }
  std::vector<StreamedChoice> want;
  for (const json& b : bodies) {
    const SseAnswer a = post_stream(solo, "/v1/chat/completions", b.dump());
    ASSERT_EQ(a.status, 200) << a.raw << solo.log();
    want.push_back(read_choice(a));
    ASSERT_TRUE(want.back().done) << a.raw;
  }
  std::vector<std::future<SseAnswer>> answers;
  for (const json& b : bodies)
    answers.push_back(std::async(std::launch::async, [&batched, body = b.dump()] {
      return post_stream(batched, "/v1/chat/completions", body);
    }));
  for (size_t i = 0; i < answers.size(); ++i) {
    ASSERT_EQ(answers[i].wait_for(std::chrono::seconds(120)), std::future_status::ready) << i;
    const SseAnswer a = answers[i].get();
    ASSERT_EQ(a.status, 200) << i << " " << a.error << " " << a.raw;
    const StreamedChoice got = read_choice(a);
    EXPECT_TRUE(got.done) << i << " " << a.raw;
    EXPECT_EQ(got.text, want[i].text) << i << " " << bodies[i].dump();
    EXPECT_EQ(got.finish, want[i].finish) << i << " " << bodies[i].dump();
  }
  const double steps = metric_value(batched, R"(ia_batch_size_count{model="llama"})");
  const double single = metric_value(batched, R"(ia_batch_size_bucket{model="llama",le="1"})");
  EXPECT_GT(steps, single) << "no step ran more than one sequence";
  // Every step's time is split into the model's run and the engine's host work around it.
  EXPECT_EQ(metric_value(batched, R"(ia_step_seconds_count{model="llama"})"), steps);
  EXPECT_EQ(metric_value(batched, R"(ia_step_host_seconds_count{model="llama"})"), steps);
  EXPECT_GT(metric_value(batched, R"(ia_step_seconds_sum{model="llama"})"), 0);
  EXPECT_EQ(metric(batched, "ia_num_requests_running"), 0);
  EXPECT_EQ(metric(batched, "ia_kv_blocks_used"), 0);
}

// Two requests with one long system prompt: the second finds the system prompt's full blocks
// in the prefix cache, and /metrics says so.
TEST(ServeBatching, ASharedSystemPromptHitsThePrefixCache) {
  ServeProcess s({"-m", kModels + "llama"});
  ASSERT_TRUE(s.ready()) << s.log();
  std::string system = "You are a careful assistant.";
  for (int i = 0; i < 5; ++i) system += " Answer briefly, kindly and with facts, number " + std::to_string(i) + ".";
  auto messages = [&](const std::string& question) {
    return json::array({json{{"role", "system"}, {"content", system}}, json{{"role", "user"}, {"content", question}}});
  };
  // The prompts' token ids as the server renders them: the shared prefix in whole blocks is
  // what the second request can take from the cache.
  std::vector<std::vector<int>> ids;
  for (const std::string q : {"What is a cat?", "Who wrote Hamlet?"}) {
    const HttpAnswer t = post_json(s, "/tokenize", json{{"model", "llama"}, {"messages", messages(q)}}.dump());
    ASSERT_EQ(t.status, 200) << t.body;
    ids.push_back(t.json()["tokens"].get<std::vector<int>>());
  }
  size_t common = 0;
  while (common < std::min(ids[0].size(), ids[1].size()) && ids[0][common] == ids[1][common]) ++common;
  ASSERT_GE(common, 64u) << "the system prompt should span several 16-token blocks";
  const double hits_before = std::max(0.0, metric(s, "ia_prefix_cache_hits_total"));
  const double queries_before = std::max(0.0, metric(s, "ia_prefix_cache_queries_total"));
  for (const std::string q : {"What is a cat?", "Who wrote Hamlet?"}) {
    const HttpAnswer a = post_json(s, "/v1/chat/completions", chat(messages(q), 4, false).dump());
    ASSERT_EQ(a.status, 200) << a.body;
  }
  const double hits = metric(s, "ia_prefix_cache_hits_total") - hits_before;
  const double queries = metric(s, "ia_prefix_cache_queries_total") - queries_before;
  EXPECT_EQ(hits, static_cast<double>(common / 16 * 16)) << "common prefix " << common;
  EXPECT_EQ(queries, static_cast<double>(ids[0].size() + ids[1].size()));
  EXPECT_GT(metric(s, "ia_kv_blocks_cached"), 0);
  EXPECT_EQ(metric(s, "ia_kv_blocks_used"), 0);  // cached blocks no sequence holds are free to reuse
}

// A client that leaves mid-stream cancels its sequence: its KV blocks go back to the pool
// (used blocks return to 0) long before its max_tokens would have ended it.
TEST(ServeBatching, ACancelledStreamFreesItsKvBlocks) {
  ServeProcess s({"-m", kModels + "llama"}, {{"IA_SERVE_TEST_TOKEN_DELAY_MS", "25"}});
  ASSERT_TRUE(s.ready()) << s.log();
  json body = chat(user("a long story, please"), 200, true);  // 5 s if it ran to the end
  body["ignore_eos"] = true;
  RawConnection client(s.host(), s.port());
  ASSERT_TRUE(client.send_all(http_post_request("/v1/chat/completions", body.dump())));
  std::string got = client.read_for(300);
  ASSERT_NE(got.find("data: "), std::string::npos) << got;
  const double total = metric(s, "ia_kv_blocks_total");
  EXPECT_GT(total, 0);
  EXPECT_GT(metric(s, "ia_kv_blocks_used"), 0) << "the stream holds its prompt's blocks";
  EXPECT_EQ(metric(s, "ia_num_requests_running"), 1);
  const auto left = std::chrono::steady_clock::now();
  client.close();
  double used = -1, cancelled = -1;
  while (std::chrono::steady_clock::now() - left < std::chrono::seconds(4)) {
    used = metric(s, "ia_kv_blocks_used");
    cancelled = metric(s, "ia_requests_cancelled_total");
    if (used == 0 && cancelled == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(cancelled, 1);
  EXPECT_EQ(used, 0);
  EXPECT_EQ(metric(s, "ia_num_requests_running"), 0);
  EXPECT_EQ(metric(s, "ia_kv_blocks_total"), total);
}

// With one sequence a step and one waiting, a burst of streams gets 429 for the rest at once
// (with Retry-After), never a hang; those admitted all finish, and the queue empties.
TEST(ServeBatching, QueueOverflowIs429AndNeverHangs) {
  ServeProcess s({"-m", kModels + "llama", "--max-num-seqs", "1", "--max-queue", "1"},
                 {{"IA_SERVE_TEST_TOKEN_DELAY_MS", "25"}});
  ASSERT_TRUE(s.ready()) << s.log();
  json body = chat(user("queue"), 12, true);
  body["ignore_eos"] = true;
  std::vector<std::future<SseAnswer>> answers;
  for (int i = 0; i < 8; ++i)
    answers.push_back(
        std::async(std::launch::async, [&s, b = body.dump()] { return post_stream(s, "/v1/chat/completions", b); }));
  int ok = 0, refused = 0;
  for (auto& f : answers) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    const SseAnswer a = f.get();
    if (a.status == 200) {
      ++ok;
      const StreamedChoice c = read_choice(a);
      EXPECT_TRUE(c.done) << a.raw;
      EXPECT_EQ(c.finish, "length") << a.raw;
    } else {
      EXPECT_EQ(a.status, 429) << a.raw;
      EXPECT_NE(a.raw.find("rate_limit_exceeded"), std::string::npos) << a.raw;
      ++refused;
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(refused, 1);
  EXPECT_EQ(ok + refused, 8);
  EXPECT_EQ(metric(s, "ia_num_requests_waiting"), 0);
  EXPECT_EQ(metric(s, "ia_kv_blocks_used"), 0);
  EXPECT_EQ(post_json(s, "/v1/chat/completions", chat(user("after"), 2, false).dump()).status, 200);
}

}  // namespace
}  // namespace ia::test
