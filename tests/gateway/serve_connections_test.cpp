// `serve`'s connection handling under many streams (docs/server.md, "Connections"): streams past
// --max-connections are refused at once with 503 while the admitted ones are relayed whole;
// connection threads are started as connections come, not up front; and the open-file limit is
// raised to the hard limit when --max-connections could need more than the soft one.
#include <sys/resource.h>

#include <fstream>
#include <future>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "fakes/provider_fakes.h"
#include "integration/cli_runner.h"
#include "integration/serve_client.h"

namespace ia::test {
namespace {

std::string providers_file(const TempDir& dir, const FakeProvider& fake) {
  const std::string path = dir.path() + "/providers.json";
  std::ofstream(path) << nlohmann::json{{"providers",
                                         {{"fake",
                                           {{"type", "openai"},
                                            {"base_url", fake.base_url()},
                                            {"keys", {{{"env", "TEST_FAKE_KEY"}}}},
                                            {"max_retries", 0}}}}},
                                        {"models", {{"chat", {{{"provider", "fake"}, {"model", "gpt-fake"}}}}}}}
                             .dump();
  return path;
}

std::string stream_body() {
  return nlohmann::json{
      {"model", "chat"}, {"messages", {{{"role", "user"}, {"content", "Hello!"}}}}, {"max_tokens", 8}, {"stream", true}}
      .dump();
}

std::string streamed_text(const SseAnswer& a) {
  std::string text;
  for (const auto& e : a.events) {
    const auto j = nlohmann::json::parse(e, nullptr, false);
    if (!j.is_object() || !j.contains("choices") || j["choices"].empty()) continue;
    const auto& d = j["choices"][0]["delta"];
    if (d.contains("content") && d["content"].is_string()) text += d["content"].get<std::string>();
  }
  return text;
}

// A number from /proc/PID/status ("Threads", "VmRSS"), or -1.
long proc_status(int pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + ":", 0) == 0) return std::stol(line.substr(name.size() + 1));
  return -1;
}

TEST(ServeConnections, StreamsPastMaxConnectionsAreRefusedWith503WhileAdmittedOnesFinish) {
  FakeProvider fake(FakeProtocol::OpenAI, {"sk-fake"});
  FakeStep slow{FakeStep::SlowFirstByte};
  slow.delay_ms = 1500;  // holds each admitted stream's connection while the others arrive
  fake.fail_always(slow);
  TempDir dir;
  ServeProcess s({"--providers", providers_file(dir, fake), "--max-connections", "3", "--no-ipfs-gateway"},
                 {{"TEST_FAKE_KEY", "sk-fake"}});
  ASSERT_TRUE(s.ready()) << s.log();

  std::vector<std::future<SseAnswer>> admitted;
  for (int i = 0; i < 3; ++i)
    admitted.push_back(
        std::async(std::launch::async, [&] { return post_stream(s, "/v1/chat/completions", stream_body()); }));
  // Every connection is held once its request has reached the provider.
  for (int i = 0; i < 200 && fake.call_count() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(fake.call_count(), 3u) << s.log();

  const SseAnswer refused = post_stream(s, "/v1/chat/completions", stream_body());
  EXPECT_EQ(refused.status, 503) << refused.error;
  const HttpAnswer refused_whole = post_json(s, "/v1/chat/completions", stream_body());
  EXPECT_EQ(refused_whole.status, 503);
  EXPECT_NE(refused_whole.body.find("\"error\""), std::string::npos) << refused_whole.body;
  EXPECT_EQ(refused_whole.headers.count("Retry-After"), 1u);
  EXPECT_EQ(fake.call_count(), 3u);  // the refused requests never reached the provider

  for (auto& f : admitted) {
    const SseAnswer a = f.get();
    EXPECT_EQ(a.status, 200) << a.error;
    EXPECT_EQ(streamed_text(a), FakeProvider::answer_text());
    ASSERT_FALSE(a.events.empty());
    EXPECT_EQ(a.events.back(), "[DONE]");
  }
  // Refusal lasts only while the connections are held.
  fake.heal();
  const SseAnswer later = post_stream(s, "/v1/chat/completions", stream_body());
  EXPECT_EQ(later.status, 200) << later.error;
  EXPECT_EQ(streamed_text(later), FakeProvider::answer_text());
}

TEST(ServeConnections, ThreadsStartWithConnectionsAndTheOpenFileLimitIsRaised) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max <= 256) GTEST_SKIP() << "hard open-file limit too low";
  // serve inherits a soft limit of 256, below what 4096 connections may need.
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  FakeProvider fake(FakeProtocol::OpenAI, {"sk-fake"});
  TempDir dir;
  ServeProcess s({"--providers", providers_file(dir, fake), "--max-connections", "4096", "--no-ipfs-gateway"},
                 {{"TEST_FAKE_KEY", "sk-fake"}});
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(s.ready()) << s.log();

  const std::string hard = saved.rlim_max == RLIM_INFINITY ? "" : std::to_string(saved.rlim_max);
  std::smatch m;
  const std::string log = s.log();
  ASSERT_TRUE(
      std::regex_search(log, m, std::regex(R"(raised the open-file limit \(RLIMIT_NOFILE\) from 256 to ([0-9]+))")))
      << log;
  if (!hard.empty()) {
    EXPECT_EQ(m[1], hard);
  }
  std::ifstream limits("/proc/" + std::to_string(s.pid()) + "/limits");
  const std::string text((std::istreambuf_iterator<char>(limits)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(std::regex_search(text, std::regex("Max open files +" + std::string(m[1]) + " "))) << text;

  // No connection yet: far fewer threads than the 4096 the limit allows.
  const long idle_threads = proc_status(s.pid(), "Threads");
  EXPECT_GT(idle_threads, 0);
  EXPECT_LT(idle_threads, 256);
  const SseAnswer a = post_stream(s, "/v1/chat/completions", stream_body());
  EXPECT_EQ(a.status, 200) << a.error;
  EXPECT_EQ(streamed_text(a), FakeProvider::answer_text());
}

}  // namespace
}  // namespace ia::test
