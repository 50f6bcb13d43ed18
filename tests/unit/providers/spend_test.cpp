// Spend kept across restarts (providers/spend_store.h): a budget reached by one client refuses
// the next one that reads the same file; a monthly budget starts again with the UTC month; a
// corrupt file is an error naming it, never reset; two writers (instances, processes) sharing
// the file lose none of each other's spend.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "fake_config.h"
#include "providers/provider_config.h"
#include "providers/spend_store.h"

namespace ia::providers {
namespace {

namespace fs = std::filesystem;
using test::FakeProtocol;
using test::FakeProvider;

struct TempFolder {
  fs::path path;
  TempFolder() {
    std::string t = (fs::temp_directory_path() / "ia-spend-XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// 0.8 USD a chat call (the fake's usage: 5 tokens in, 3 out) against a budget of 1 USD.
ProviderConfig priced(const FakeProvider& fake, ProviderConfig::BudgetPeriod period) {
  ProviderConfig c = fake_config("openai", fake);
  c.name = "oai";
  c.prices["*"] = {100'000.0, 100'000.0, 0};
  c.budget_usd = 1.0;
  c.budget_period = period;
  return c;
}

std::chrono::system_clock::time_point utc(int year, int month, int day, int hour, int minute, int second) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

void expect_refused(ProviderClient& client, const std::string& needle) {
  try {
    client.chat(hello_chat("gpt-4o-mini"), nullptr);
    ADD_FAILURE() << "a call past the budget ran";
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.status(), 402);
    EXPECT_EQ(e.failure(), FailureClass::KeyFault);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ProviderSpend, ARestartedClientIsRefusedOnceTheStoredSpendReachesTheBudget) {
  FakeProvider fake(FakeProtocol::OpenAI);
  TempFolder dir;
  const std::string file = (dir.path / "state" / "provider-spend.json").string();  // its folder is made
  {
    ProviderClient first(make_provider(priced(fake, ProviderConfig::BudgetPeriod::Total)), {},
                         std::make_shared<SpendStore>(file));
    first.chat(hello_chat("gpt-4o-mini"), nullptr);  // 0.8
    first.chat(hello_chat("gpt-4o-mini"), nullptr);  // 1.6: the crossing call completes
  }
  const auto j = nlohmann::json::parse(slurp(file));
  EXPECT_EQ(j["version"], 1);
  EXPECT_DOUBLE_EQ(j["spend_usd"]["oai"]["total"]["gpt-4o-mini"].get<double>(), 1.6);
  for (const auto& e : fs::directory_iterator(dir.path / "state"))  // no temporary file left behind
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();

  const size_t calls = fake.call_count();
  ProviderClient second(make_provider(priced(fake, ProviderConfig::BudgetPeriod::Total)), {},
                        std::make_shared<SpendStore>(file));
  EXPECT_DOUBLE_EQ(second.budget_spent_usd(), 1.6);
  expect_refused(second, "budget of 1.00 USD is spent (1.6000 USD recorded in " + file);
  EXPECT_EQ(fake.call_count(), calls);        // refused before reaching the provider
  EXPECT_DOUBLE_EQ(second.spent_usd(), 0.0);  // this process spent nothing

  // Two instances alive at once on one file see each other's spend.
  fs::remove(file);
  auto store_a = std::make_shared<SpendStore>(file);
  auto store_b = std::make_shared<SpendStore>(file);
  ProviderClient a(make_provider(priced(fake, ProviderConfig::BudgetPeriod::Total)), {}, store_a);
  ProviderClient b(make_provider(priced(fake, ProviderConfig::BudgetPeriod::Total)), {}, store_b);
  a.chat(hello_chat("gpt-4o-mini"), nullptr);
  b.chat(hello_chat("gpt-4o-mini"), nullptr);
  expect_refused(a, "1.6000 USD recorded");
  expect_refused(b, "1.6000 USD recorded");
}

TEST(ProviderSpend, AMonthlyBudgetStartsAgainWithTheUtcMonth) {
  FakeProvider fake(FakeProtocol::OpenAI);
  TempFolder dir;
  const std::string file = (dir.path / "spend.json").string();
  auto now = std::make_shared<std::chrono::system_clock::time_point>(utc(2025, 1, 31, 23, 59, 30));
  ClientHooks hooks;
  hooks.wall_clock = [now] { return *now; };
  auto client = std::make_unique<ProviderClient>(make_provider(priced(fake, ProviderConfig::BudgetPeriod::Month)),
                                                 hooks, std::make_shared<SpendStore>(file));
  EXPECT_EQ(client->budget_period_key(), "2025-01");
  client->chat(hello_chat("gpt-4o-mini"), nullptr);
  client->chat(hello_chat("gpt-4o-mini"), nullptr);
  expect_refused(*client, "budget of 1.00 USD for 2025-01 (UTC) is spent");

  // A restart later in the same month is still refused; the first second of February is not.
  client = std::make_unique<ProviderClient>(make_provider(priced(fake, ProviderConfig::BudgetPeriod::Month)), hooks,
                                            std::make_shared<SpendStore>(file));
  expect_refused(*client, "for 2025-01");
  *now = utc(2025, 2, 1, 0, 0, 1);
  EXPECT_EQ(client->budget_period_key(), "2025-02");
  EXPECT_DOUBLE_EQ(client->budget_spent_usd(), 0.0);
  EXPECT_NO_THROW(client->chat(hello_chat("gpt-4o-mini"), nullptr));
  const auto j = nlohmann::json::parse(slurp(file))["spend_usd"]["oai"];
  EXPECT_DOUBLE_EQ(j["2025-01"]["gpt-4o-mini"].get<double>(), 1.6);
  EXPECT_DOUBLE_EQ(j["2025-02"]["gpt-4o-mini"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(j["total"]["gpt-4o-mini"].get<double>(), 2.4);

  // The same file under a "total" budget counts every month.
  ProviderClient total(make_provider(priced(fake, ProviderConfig::BudgetPeriod::Total)), hooks,
                       std::make_shared<SpendStore>(file));
  expect_refused(total, "2.4000 USD recorded");
}

TEST(ProviderSpend, ACorruptOrUnreadableFileIsAClearErrorAndIsKept) {
  TempFolder dir;
  const fs::path file = dir.path / "spend.json";
  for (const std::string& bad : {std::string("{\"version\": 1, \"spend_usd\": {\"oai\": "), std::string("[]"),
                                 std::string(R"({"version": 2, "spend_usd": {}})"),
                                 std::string(R"({"version": 1, "spend_usd": {"oai": {"total": {"m": -1}}}})"),
                                 std::string(R"({"version": 1, "spend_usd": {"oai": {"2025-13x": {"m": 1}}}})"),
                                 std::string(R"({"version": 1, "spend_usd": {"oai": {"total": {"m": "1"}}}})")}) {
    std::ofstream(file) << bad;
    try {
      SpendStore s(file.string());
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << bad;
      const std::string msg = e.what();
      EXPECT_NE(msg.find("spend file " + file.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find("never reset silently"), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    EXPECT_EQ(slurp(file), bad);  // left as it was
  }
  fs::remove(file);
  fs::create_directory(file);  // a folder where the file should be
  EXPECT_THROW(SpendStore s(file.string()), Error);

  // A file that turns corrupt while a client runs refuses its budgeted calls (no silent reset).
  FakeProvider fake(FakeProtocol::OpenAI);
  fs::remove(file);
  ProviderClient client(make_provider(priced(fake, ProviderConfig::BudgetPeriod::Total)), {},
                        std::make_shared<SpendStore>(file.string()));
  client.chat(hello_chat("gpt-4o-mini"), nullptr);
  std::ofstream(file) << "garbage";
  EXPECT_THROW(client.chat(hello_chat("gpt-4o-mini"), nullptr), Error);
  EXPECT_EQ(fake.call_count(), 1u);
}

TEST(ProviderSpend, TwoWritersLoseNoUpdates) {
  TempFolder dir;
  const std::string file = (dir.path / "spend.json").string();
  constexpr int kAdds = 150;
  // Two instances in one process (separate open files: the flock is between them) …
  {
    auto writer = [&](const std::string& model) {
      SpendStore s(file);
      for (int i = 0; i < kAdds; ++i) s.add("oai", model, 0.01, "2025-06");
    };
    std::thread t1(writer, "a"), t2(writer, "b");
    t1.join();
    t2.join();
  }
  // … and two processes.
  pid_t kids[2];
  for (int k = 0; k < 2; ++k) {
    kids[k] = ::fork();
    ASSERT_GE(kids[k], 0);
    if (kids[k] == 0) {
      int rc = 0;
      try {
        SpendStore s(file);
        for (int i = 0; i < kAdds; ++i) s.add("oai", k == 0 ? "a" : "c", 0.01, "2025-06");
      } catch (...) {
        rc = 1;
      }
      ::_exit(rc);
    }
  }
  for (pid_t kid : kids) {
    int status = 0;
    ::waitpid(kid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  SpendStore s(file);
  EXPECT_NEAR(s.spent("oai", "total"), 4 * kAdds * 0.01, 1e-9);
  EXPECT_NEAR(s.spent("oai", "2025-06"), 4 * kAdds * 0.01, 1e-9);
  const auto j = nlohmann::json::parse(slurp(file))["spend_usd"]["oai"]["total"];
  EXPECT_NEAR(j["a"].get<double>(), 2 * kAdds * 0.01, 1e-9);
  EXPECT_NEAR(j["b"].get<double>(), kAdds * 0.01, 1e-9);
  EXPECT_NEAR(j["c"].get<double>(), kAdds * 0.01, 1e-9);
}

TEST(ProviderSpend, ConfigReadsThePeriodAndAudioPrices) {
  const EnvLookup no_env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  const auto c = provider_config_from_json(
      "oai", nlohmann::json::parse(R"({"type": "openai", "prices": {"whisper-1": {"audio_per_minute": 0.006}},
                               "budget_usd": 5, "budget_period": "month"})"),
      no_env);
  EXPECT_EQ(c.budget_period, ProviderConfig::BudgetPeriod::Month);
  EXPECT_DOUBLE_EQ(c.cost_usd("whisper-1", 0, 0, 90), 0.009);
  try {
    provider_config_from_json("oai", nlohmann::json::parse(R"({"type": "openai", "budget_period": "week"})"), no_env);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("providers.oai.budget_period"), std::string::npos) << e.what();
  }
  EXPECT_EQ(spend_period_key(ProviderConfig::BudgetPeriod::Month, utc(2024, 12, 31, 23, 59, 59)), "2024-12");
  EXPECT_EQ(spend_period_key(ProviderConfig::BudgetPeriod::Total, utc(2024, 12, 31, 23, 59, 59)), "total");
}

}  // namespace
}  // namespace ia::providers
