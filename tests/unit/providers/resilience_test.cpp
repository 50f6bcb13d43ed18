// The client's policies against scripted fakes: which failures are retried and how long it
// waits (the waits are recorded, not slept), breakers, key rotation, queue priorities, and
// that a stream already forwarded is never replayed.
#include <thread>

#include <gtest/gtest.h>

#include "fake_config.h"

namespace ia::providers {
namespace {

using std::chrono::milliseconds;
using test::FakeProtocol;
using test::FakeProvider;
using test::FakeStep;

FakeStep http_error(int status, std::map<std::string, std::string> headers = {}) {
  FakeStep s{FakeStep::HttpError, status};
  s.headers = std::move(headers);
  return s;
}

TEST(ProviderClient, RetriesA429AfterEachRetryAfterFormat) {
  FakeProvider fake(FakeProtocol::OpenAI);
  ProviderConfig c = fake_config("openai", fake);
  c.max_retries = 4;
  RecordingClient client(c);
  const auto date = [] {  // an HTTP date 30 s ahead (to the second)
    const std::time_t t = std::time(nullptr) + 30;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(buf);
  }();
  fake.script({http_error(429, {{"retry-after", "2"}}), http_error(429, {{"retry-after-ms", "750"}}),
               http_error(429, {{"retry-after", "1.5"}}), http_error(429, {{"retry-after", date}})});
  EXPECT_EQ(client->chat(hello_chat("m"), nullptr).text, "Hello world");
  EXPECT_EQ(fake.call_count(), 5u);
  ASSERT_EQ(client.waits.size(), 4u);
  EXPECT_EQ(client.waits[0], milliseconds(2000));
  EXPECT_EQ(client.waits[1], milliseconds(750));
  EXPECT_EQ(client.waits[2], milliseconds(1500));
  EXPECT_GE(client.waits[3], milliseconds(28000));
  EXPECT_LE(client.waits[3], milliseconds(30000));
  EXPECT_EQ(client->stats()["m"].retries, 4);
  EXPECT_EQ(client->stats()["m"].errors["rate_limited"], 4);
}

TEST(ProviderClient, AHintPastTheCapFallsBackToJitteredBackoff) {
  FakeProvider fake(FakeProtocol::OpenAI);
  RecordingClient client(fake_config("openai", fake));
  fake.script({http_error(429, {{"retry-after", "3600"}})});
  client->chat(hello_chat("m"), nullptr);
  ASSERT_EQ(client.waits.size(), 1u);
  EXPECT_LE(client.waits[0], milliseconds(500));  // attempt 0: uniform in [0, base]
}

TEST(ProviderClient, RealWaitHonoursRetryAfterWithinBoundedTime) {
  FakeProvider fake(FakeProtocol::Anthropic);
  ProviderClient client(make_provider(fake_config("anthropic", fake)));
  fake.script({http_error(429, {{"retry-after", "1"}})});
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(client.chat(hello_chat("m"), nullptr).text, "Hello world");
  const auto dt = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(dt, milliseconds(1000));
  EXPECT_LT(dt, milliseconds(2500));
}

TEST(ProviderClient, NothingTheProtocolMarksFinalIsRetried) {
  FakeProvider fake(FakeProtocol::OpenAI);
  RecordingClient client(fake_config("openai", fake));
  for (int status : {400, 404, 413, 422}) {
    fake.script({http_error(status)});
    const size_t before = fake.call_count();
    try {
      client->chat(hello_chat("m"), nullptr);
      FAIL() << status;
    } catch (const ProviderError& e) {
      EXPECT_EQ(e.status(), status);
      EXPECT_NE(e.kind(), ErrorKind::Unavailable);  // the caller's fault: exit 2 / a 4xx
    }
    EXPECT_EQ(fake.call_count(), before + 1) << status;
  }
  EXPECT_TRUE(client.waits.empty());
  EXPECT_EQ(client->breaker_state(), BreakerState::Closed);  // caller faults are not the provider's
}

TEST(ProviderClient, FiveHundredsAreRetriedWithBackoffThenGiveUp) {
  FakeProvider fake(FakeProtocol::OpenAI);
  RecordingClient client(fake_config("openai", fake));  // 2 retries, the SDKs' default
  fake.fail_always(http_error(503));
  EXPECT_THROW(client->chat(hello_chat("m"), nullptr), ProviderError);
  EXPECT_EQ(fake.call_count(), 3u);
  ASSERT_EQ(client.waits.size(), 2u);
  EXPECT_LE(client.waits[0], milliseconds(500));
  EXPECT_LE(client.waits[1], milliseconds(1000));
}

TEST(ProviderClient, APartlyForwardedStreamIsNeverReplayed) {
  FakeProvider fake(FakeProtocol::OpenAI);
  RecordingClient client(fake_config("openai", fake));
  FakeStep cut{FakeStep::CutStream};
  cut.after_deltas = 2;
  fake.script({cut});
  std::string seen;
  EXPECT_THROW(client->chat(hello_chat("m"),
                            [&](std::string_view d) {
                              seen += d;
                              return true;
                            }),
               ProviderError);
  EXPECT_EQ(seen, "Hello");  // what had arrived, once
  EXPECT_EQ(fake.call_count(), 1u);
  // Failing before any text was forwarded: retried, and the caller sees the text once.
  fake.script({http_error(503)});
  seen.clear();
  client->chat(hello_chat("m"), [&](std::string_view d) {
    seen += d;
    return true;
  });
  EXPECT_EQ(seen, "Hello world");
}

TEST(ProviderClient, A401BenchesThatKeyAndTheNextKeyAnswers) {
  FakeProvider fake(FakeProtocol::OpenAI, {"sk-good"});
  RecordingClient client(fake_config("openai", fake, {"sk-bad", "sk-good"}));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(client->chat(hello_chat("m"), nullptr).text, "Hello world");
  // sk-bad was tried once, then benched: every later call used sk-good.
  size_t bad = 0;
  for (const auto& r : fake.requests()) bad += r.header("Authorization") == "Bearer sk-bad";
  EXPECT_EQ(bad, 1u);
  EXPECT_EQ(client->keys().keys()[0]->breaker.state(), BreakerState::Open);
  EXPECT_EQ(client->keys().keys()[1]->breaker.state(), BreakerState::Closed);
  EXPECT_TRUE(client.waits.size() == 1 && client.waits[0] == milliseconds(0));  // rotate at once
}

TEST(ProviderClient, KeysShareLoadRoundRobin) {
  FakeProvider fake(FakeProtocol::OpenAI, {"k1", "k2", "k3"});
  RecordingClient client(fake_config("openai", fake, {"k1", "k2", "k3"}));
  for (int i = 0; i < 6; ++i) client->chat(hello_chat("m"), nullptr);
  std::map<std::string, int> uses;
  for (const auto& r : fake.requests()) ++uses[r.header("Authorization")];
  EXPECT_EQ(uses["Bearer k1"], 2);
  EXPECT_EQ(uses["Bearer k2"], 2);
  EXPECT_EQ(uses["Bearer k3"], 2);
}

TEST(ProviderClient, AllKeysBenchedIsUnavailableWithoutCalling) {
  FakeProvider fake(FakeProtocol::OpenAI, {"sk-good"});
  RecordingClient client(fake_config("openai", fake, {"sk-bad"}));
  EXPECT_THROW(client->chat(hello_chat("m"), nullptr), ProviderError);
  const size_t calls = fake.call_count();
  try {
    client->chat(hello_chat("m"), nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_NE(std::string(e.what()).find("every API key is benched"), std::string::npos);
  }
  EXPECT_EQ(fake.call_count(), calls);
  EXPECT_FALSE(client->available());
}

TEST(ProviderClient, Anthropic529BurstOpensTheProviderBreakerWhichHalfOpensAndCloses) {
  FakeProvider fake(FakeProtocol::Anthropic);
  auto now = std::make_shared<SteadyClock::time_point>(SteadyClock::now());
  ProviderConfig c = fake_config("anthropic", fake);
  c.max_retries = 0;
  c.breaker_failures = 3;
  c.breaker_cooldown = milliseconds(30000);
  ClientHooks hooks;
  hooks.clock = [now] { return *now; };
  hooks.sleep = [](milliseconds) {};
  ProviderClient client(make_provider(c), hooks);
  fake.fail_always(http_error(529));
  for (int i = 0; i < 3; ++i) EXPECT_THROW(client.chat(hello_chat("m"), nullptr), ProviderError);
  EXPECT_EQ(client.breaker_state(), BreakerState::Open);
  EXPECT_FALSE(client.available());
  const size_t calls = fake.call_count();
  try {
    client.chat(hello_chat("m"), nullptr);
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_NE(std::string(e.what()).find("circuit breaker open"), std::string::npos);
  }
  EXPECT_EQ(fake.call_count(), calls);  // refused without a call
  *now += milliseconds(30001);
  EXPECT_EQ(client.breaker_state(), BreakerState::HalfOpen);
  EXPECT_THROW(client.chat(hello_chat("m"), nullptr), ProviderError);  // the probe fails: open again
  EXPECT_EQ(client.breaker_state(), BreakerState::Open);
  *now += milliseconds(30001);
  fake.heal();
  EXPECT_EQ(client.chat(hello_chat("m"), nullptr).text, "Hello world");  // the probe succeeds
  EXPECT_EQ(client.breaker_state(), BreakerState::Closed);
}

TEST(CircuitBreaker, HalfOpenLetsExactlyOneProbeThrough) {
  auto now = std::make_shared<SteadyClock::time_point>();
  CircuitBreaker b(2, milliseconds(100), [now] { return *now; });
  EXPECT_TRUE(b.allow());
  b.record_failure();
  EXPECT_EQ(b.state(), BreakerState::Closed);
  b.record_failure();
  EXPECT_EQ(b.state(), BreakerState::Open);
  EXPECT_FALSE(b.allow());
  *now += milliseconds(100);
  EXPECT_TRUE(b.allow());
  EXPECT_FALSE(b.allow());  // one probe at a time
  b.record_success();
  EXPECT_TRUE(b.allow());
  b.trip(milliseconds(50));
  EXPECT_FALSE(b.allow());
}

TEST(RequestGate, PrioritiesOrderTheQueue) {
  RequestGate gate(1, 16);
  gate.acquire(Priority::Normal, SteadyClock::now() + std::chrono::seconds(5));  // the one slot
  std::mutex mu;
  std::vector<std::string> order;
  std::vector<std::thread> threads;
  auto waiter = [&](Priority p, std::string name) {
    threads.emplace_back([&, p, name] {
      gate.acquire(p, SteadyClock::now() + std::chrono::seconds(5));
      {
        std::lock_guard lock(mu);
        order.push_back(name);
      }
      gate.release();
    });
    while (gate.waiting() < threads.size()) std::this_thread::sleep_for(milliseconds(1));
  };
  waiter(Priority::Low, "low1");
  waiter(Priority::Normal, "normal1");
  waiter(Priority::High, "high1");
  waiter(Priority::Low, "low2");
  waiter(Priority::High, "high2");
  gate.release();
  for (auto& t : threads) t.join();
  EXPECT_EQ(order, (std::vector<std::string>{"high1", "high2", "normal1", "low1", "low2"}));
  EXPECT_EQ(gate.running(), 0);
}

TEST(RequestGate, AFullLineAndADeadlineRefuse) {
  RequestGate gate(1, 0);
  gate.acquire(Priority::High, SteadyClock::now());
  EXPECT_THROW(gate.acquire(Priority::High, SteadyClock::now() + milliseconds(50)), Error);
  RequestGate g2(1, 4);
  g2.acquire(Priority::High, SteadyClock::now());
  const auto t0 = SteadyClock::now();
  EXPECT_THROW(g2.acquire(Priority::High, SteadyClock::now() + milliseconds(100)), Error);
  EXPECT_GE(SteadyClock::now() - t0, milliseconds(100));
  EXPECT_EQ(g2.waiting(), 0u);
}

TEST(ProviderClient, EmbeddingsAreBatched) {
  FakeProvider fake(FakeProtocol::OpenAI);
  ProviderConfig c = fake_config("openai", fake);
  c.embed_batch = 2;
  ProviderClient client(make_provider(c));
  EmbedResult r = client.embed({"e", {"a", "bb", "ccc", "dddd", "eeeee"}, std::nullopt});
  ASSERT_EQ(r.vectors.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(r.vectors[i][0], static_cast<float>(i + 1));
  EXPECT_EQ(fake.call_count(), 3u);
}

TEST(ProviderClient, CountersByModel) {
  FakeProvider fake(FakeProtocol::OpenAI);
  RecordingClient client(fake_config("openai", fake));
  client->chat(hello_chat("a"), nullptr);
  client->chat(hello_chat("a"), nullptr);
  fake.script({http_error(400)});
  EXPECT_THROW(client->chat(hello_chat("b"), nullptr), ProviderError);
  auto s = client->stats();
  EXPECT_EQ(s["a"].requests, 2);
  EXPECT_EQ(s["a"].successes, 2);
  EXPECT_EQ(s["a"].tokens_in, 10);
  EXPECT_EQ(s["a"].tokens_out, 6);
  int64_t in_buckets = 0;
  for (auto n : s["a"].latency_buckets) in_buckets += n;
  EXPECT_EQ(in_buckets, 2);
  EXPECT_EQ(s["b"].errors["caller"], 1);
  EXPECT_EQ(s["a"].cost_usd, 0.0);  // no prices configured
}

TEST(ProviderClient, CostFromTheConfiguredPricesAndTheUsage) {
  FakeProvider fake(FakeProtocol::OpenAI);
  ProviderConfig c = fake_config("openai", fake);
  c.prices["a"] = {2.0, 8.0};  // USD per million input / output tokens
  c.prices["*"] = {1.0, 1.0};
  RecordingClient client(c);
  client->chat(hello_chat("a"), nullptr);  // the fake's usage: 5 tokens in, 3 out
  client->chat(hello_chat("a"), nullptr);
  client->chat(hello_chat("other"), nullptr);
  auto s = client->stats();
  EXPECT_DOUBLE_EQ(s["a"].cost_usd, (10 * 2.0 + 6 * 8.0) / 1e6);
  EXPECT_DOUBLE_EQ(s["other"].cost_usd, (5 * 1.0 + 3 * 1.0) / 1e6);
  EXPECT_DOUBLE_EQ(client->spent_usd(), (10 * 2.0 + 6 * 8.0 + 5 + 3) / 1e6);
}

TEST(ProviderClient, ABudgetSpentRefusesFurtherCallsWithoutReachingTheProvider) {
  FakeProvider fake(FakeProtocol::OpenAI);
  ProviderConfig c = fake_config("openai", fake);
  c.prices["*"] = {100'000.0, 100'000.0};  // 0.8 USD a call of 5 + 3 tokens
  c.budget_usd = 1.0;
  RecordingClient client(c);
  client->chat(hello_chat("a"), nullptr);  // 0.8 spent: under the budget
  client->chat(hello_chat("a"), nullptr);  // 1.6: the call that crossed it completes
  const size_t calls = fake.call_count();
  try {
    client->chat(hello_chat("a"), nullptr);
    ADD_FAILURE() << "a call past the budget ran";
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::KeyFault);
    EXPECT_NE(std::string(e.what()).find("budget of 1.00 USD is spent"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fake.call_count(), calls);
  EXPECT_EQ(client->stats()["a"].errors["budget"], 1);
}

}  // namespace
}  // namespace ia::providers
