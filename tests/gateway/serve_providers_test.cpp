// `serve --providers FILE` as a gateway, end to end over loopback against protocol fakes
// (tests/fakes): fallback from a failing deployment to a working one, the deployment breaker
// opening and half-opening, local-first and remote-to-local chains with the local engine, a
// caller's error passed through unretried, the counters in /metrics; and `generate
// --provider` from the environment alone.
#include <cstdlib>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "fakes/provider_fakes.h"
#include "integration/cli_runner.h"
#include "integration/serve_client.h"

namespace ia::test {
namespace {

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";

std::string write_file(const TempDir& dir, const std::string& name, const nlohmann::json& j) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path) << j.dump(2);
  return path;
}

nlohmann::json chat_body(const std::string& model, bool stream = false) {
  return {{"model", model},
          {"messages", {{{"role", "user"}, {"content", "Hello!"}}}},
          {"max_tokens", 8},
          {"temperature", 0},
          {"stream", stream}};
}

std::string header(const HttpAnswer& a, const std::string& name) {
  auto it = a.headers.find(name);
  return it == a.headers.end() ? std::string() : it->second;
}

std::string streamed_text(const SseAnswer& a) {
  std::string text;
  for (const auto& e : a.events) {
    if (e == "[DONE]") continue;
    auto j = nlohmann::json::parse(e, nullptr, false);
    if (!j.is_object() || !j.contains("choices") || j["choices"].empty()) continue;
    const auto& d = j["choices"][0]["delta"];
    if (d.contains("content") && d["content"].is_string()) text += d["content"].get<std::string>();
  }
  return text;
}

TEST(ServeProviders, FallsBackFromAFailingProviderToAWorkingOneWholeAndStreamed) {
  FakeProvider primary(FakeProtocol::OpenAI, {"sk-primary"});
  FakeProvider backup(FakeProtocol::Anthropic, {"sk-ant"});
  FakeStep down{FakeStep::HttpError, 503};
  primary.fail_always(down);
  TempDir dir;
  const std::string file = write_file(
      dir, "providers.json",
      {{"providers",
        {{"primary",
          {{"type", "openai"},
           {"base_url", primary.base_url()},
           {"keys", {{{"env", "TEST_PRIMARY_KEY"}}}},
           {"max_retries", 0},
           {"breaker", {{"failures", 100}}}}},
         {"backup", {{"type", "anthropic"}, {"base_url", backup.base_url()}, {"keys", {{{"env", "TEST_ANT_KEY"}}}}}}}},
       {"models",
        {{"chat",
          {{{"provider", "primary"}, {"model", "gpt-fake"}}, {{"provider", "backup"}, {"model", "claude-fake"}}}}}}});
  ServeProcess s({"--providers", file}, {{"TEST_PRIMARY_KEY", "sk-primary"}, {"TEST_ANT_KEY", "sk-ant"}});
  ASSERT_TRUE(s.ready()) << s.log();

  HttpAnswer a = post_json(s, "/v1/chat/completions", chat_body("chat").dump());
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json()["choices"][0]["message"]["content"], "Hello world");
  EXPECT_EQ(a.json()["model"], "chat");
  EXPECT_EQ(a.json()["deployment"], "backup/claude-fake");
  EXPECT_EQ(header(a, "X-IA-Deployment"), "backup/claude-fake");
  EXPECT_EQ(primary.call_count(), 1u);
  // The key reached the provider, in its own header; the primary was tried with its own.
  EXPECT_EQ(backup.requests().back().header("x-api-key"), "sk-ant");
  EXPECT_EQ(backup.requests().back().json()["model"], "claude-fake");

  SseAnswer st = post_stream(s, "/v1/chat/completions", chat_body("chat", true).dump());
  ASSERT_EQ(st.status, 200) << st.raw;
  EXPECT_EQ(streamed_text(st), "Hello world");
  EXPECT_EQ(st.events.back(), "[DONE]");

  // Routed names are listed with their deployments; the keys never appear in the log.
  HttpAnswer models = get(s, "/v1/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_NE(models.body.find("\"owned_by\":\"router\""), std::string::npos);
  EXPECT_NE(models.body.find("backup/claude-fake"), std::string::npos);
  EXPECT_EQ(s.log().find("sk-primary"), std::string::npos);
  EXPECT_EQ(s.log().find("sk-ant"), std::string::npos);
  EXPECT_GE(metric_value(s, "ia_provider_requests_total{provider=\"backup\",model=\"claude-fake\"}"), 2);
  EXPECT_GE(metric_value(s, "ia_provider_errors_total{provider=\"primary\",model=\"gpt-fake\",class=\"overloaded\"}"),
            2);

  // `providers status` reads the live state: breakers, keys by source (never the key).
  CliResult status = run_cli({"providers", "status", "--url", s.url()});
  ASSERT_EQ(status.status, 0) << status.err;
  const auto j = nlohmann::json::parse(status.out);
  ASSERT_EQ(j["providers"].size(), 2u);
  EXPECT_EQ(j["providers"][1]["name"], "primary");
  EXPECT_EQ(j["providers"][1]["keys"][0]["source"], "env TEST_PRIMARY_KEY");
  EXPECT_EQ(status.out.find("sk-primary"), std::string::npos);
  EXPECT_EQ(j["routes"][0]["deployments"][1]["deployment"], "backup/claude-fake");
}

TEST(ServeProviders, DeploymentBreakerOpensThenHalfOpensAndCloses) {
  FakeProvider primary(FakeProtocol::OpenAI);
  FakeProvider backup(FakeProtocol::Ollama);
  FakeStep down{FakeStep::HttpError, 500};
  primary.fail_always(down);
  TempDir dir;
  const std::string file = write_file(
      dir, "providers.json",
      {{"providers",
        {{"primary",
          {{"type", "vllm"}, {"base_url", primary.base_url()}, {"max_retries", 0}, {"breaker", {{"failures", 100}}}}},
         {"backup", {{"type", "ollama"}, {"base_url", backup.base_url()}}}}},
       {"models",
        {{"chat", {{{"provider", "primary"}, {"model", "m1"}}, {{"provider", "backup"}, {"model", "llama-fake"}}}}}},
       {"router", {{"breaker", {{"failures", 2}, {"cooldown_s", 1.0}}}}}});
  ServeProcess s({"--providers", file});
  ASSERT_TRUE(s.ready()) << s.log();
  for (int i = 0; i < 2; ++i) {
    HttpAnswer a = post_json(s, "/v1/chat/completions", chat_body("chat").dump());
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(header(a, "X-IA-Deployment"), "backup/llama-fake");
  }
  EXPECT_EQ(primary.call_count(), 2u);
  // Open: the primary is skipped without a call.
  HttpAnswer skipped = post_json(s, "/v1/chat/completions", chat_body("chat").dump());
  EXPECT_EQ(header(skipped, "X-IA-Deployment"), "backup/llama-fake");
  EXPECT_EQ(primary.call_count(), 2u);
  EXPECT_EQ(metric_value(s, "ia_router_deployment_breaker_open{route=\"chat\",deployment=\"primary/m1\"}"), 1);
  // After the cooldown one probe goes to the primary; healed, it answers and the breaker closes.
  primary.heal();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  HttpAnswer probe = post_json(s, "/v1/chat/completions", chat_body("chat").dump());
  ASSERT_EQ(probe.status, 200) << probe.body;
  EXPECT_EQ(header(probe, "X-IA-Deployment"), "primary/m1");
  EXPECT_EQ(primary.call_count(), 3u);
  EXPECT_EQ(metric_value(s, "ia_router_deployment_breaker_open{route=\"chat\",deployment=\"primary/m1\"}"), 0);
}

TEST(ServeProviders, CallerErrorsPassThroughUnretriedAndAllFailingIs503) {
  FakeProvider primary(FakeProtocol::OpenAI);
  FakeProvider backup(FakeProtocol::OpenAI);
  TempDir dir;
  const std::string file = write_file(
      dir, "providers.json",
      {{"providers",
        {{"primary", {{"type", "vllm"}, {"base_url", primary.base_url()}}},
         {"backup", {{"type", "vllm"}, {"base_url", backup.base_url()}, {"max_retries", 0}}}}},
       {"models", {{"chat", {{{"provider", "primary"}, {"model", "m"}}, {{"provider", "backup"}, {"model", "m"}}}}}}});
  ServeProcess s({"--providers", file});
  ASSERT_TRUE(s.ready()) << s.log();
  primary.script({FakeStep{FakeStep::HttpError, 400}});
  HttpAnswer a = post_json(s, "/v1/chat/completions", chat_body("chat").dump());
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_NE(a.body.find("fake error 400"), std::string::npos);
  EXPECT_EQ(primary.call_count(), 1u);
  EXPECT_EQ(backup.call_count(), 0u);

  FakeStep down{FakeStep::HttpError, 503};
  primary.fail_always(down);
  backup.fail_always(down);
  HttpAnswer b = post_json(s, "/v1/chat/completions", chat_body("chat").dump());
  EXPECT_EQ(b.status, 503) << b.body;
  EXPECT_NE(b.body.find("every deployment of `chat` failed"), std::string::npos) << b.body;

  // Fields a remote deployment cannot carry are refused, not dropped.
  nlohmann::json tools = chat_body("chat");
  tools["n"] = 2;
  EXPECT_EQ(post_json(s, "/v1/chat/completions", tools.dump()).status, 400);
}

TEST(ServeProviders, LocalFirstAndRemoteToLocalChains) {
  FakeProvider remote(FakeProtocol::OpenAI);
  TempDir dir;
  const std::string file =
      write_file(dir, "providers.json",
                 {{"providers", {{"remote", {{"type", "vllm"}, {"base_url", remote.base_url()}, {"max_retries", 0}}}}},
                  {"models",
                   {{"local-first", {{{"local", "tiny"}}, {{"provider", "remote"}, {"model", "big"}}}},
                    {"missing-local", {{{"local", "not-loaded"}}, {{"provider", "remote"}, {"model", "big"}}}},
                    {"remote-first", {{{"provider", "remote"}, {"model", "big"}}, {{"local", "tiny"}}}}}}});
  ServeProcess s({"-m", kModels + "gpt2", "--served-model-name", "tiny", "--providers", file});
  ASSERT_TRUE(s.ready()) << s.log();
  auto completion = [](const std::string& model) {
    return nlohmann::json{{"model", model}, {"prompt", "Hello"}, {"max_tokens", 6}, {"temperature", 0}}.dump();
  };
  HttpAnswer direct = post_json(s, "/v1/completions", completion("tiny"));
  ASSERT_EQ(direct.status, 200) << direct.body;
  const std::string local_text = direct.json()["choices"][0]["text"];

  HttpAnswer a = post_json(s, "/v1/completions", completion("local-first"));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(header(a, "X-IA-Deployment"), "local:tiny");
  EXPECT_EQ(a.json()["choices"][0]["text"], local_text);
  EXPECT_EQ(remote.call_count(), 0u);

  HttpAnswer b = post_json(s, "/v1/completions", completion("missing-local"));
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(header(b, "X-IA-Deployment"), "remote/big");
  EXPECT_EQ(b.json()["choices"][0]["text"], "Hello world");

  remote.fail_always(FakeStep{FakeStep::HttpError, 502});
  HttpAnswer c = post_json(s, "/v1/completions", completion("remote-first"));
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(header(c, "X-IA-Deployment"), "local:tiny");
  EXPECT_EQ(c.json()["choices"][0]["text"], local_text);  // the local engine's own answer
}

class ScopedEnv {
 public:
  ScopedEnv(std::vector<std::pair<std::string, std::string>> vars) : vars_(std::move(vars)) {
    for (const auto& [k, v] : vars_) setenv(k.c_str(), v.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const auto& [k, v] : vars_) unsetenv(k.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
};

TEST(CliProviders, GenerateWithAProviderFromTheEnvironmentAlone) {
  FakeProvider fake(FakeProtocol::OpenAI, {"sk-env"});
  ScopedEnv env({{"OPENAI_BASE_URL", fake.base_url()}, {"OPENAI_API_KEY", "sk-env"}});
  CliResult r = run_cli({"generate", "--provider", "openai", "--model", "gpt-4o-mini", "--prompt", "Hi", "--quiet"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Hello world\n");
  EXPECT_EQ(fake.requests().back().json()["messages"][0]["content"], "Hi");
  EXPECT_EQ(fake.requests().back().json()["model"], "gpt-4o-mini");

  CliResult streamed =
      run_cli({"generate", "--provider", "openai", "--model", "gpt-4o-mini", "--prompt", "Hi", "--stream", "--quiet"});
  EXPECT_EQ(streamed.status, 0) << streamed.err;
  EXPECT_EQ(streamed.out, "Hello world\n");

  // The protocol's "your fault" (404 unknown model) is exit 2 with the provider's message.
  fake.script({FakeStep{FakeStep::HttpError, 404}});
  CliResult missing = run_cli({"generate", "--provider", "openai", "--model", "nope", "--prompt", "Hi"});
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.err.find("fake error 404"), std::string::npos) << missing.err;
  EXPECT_TRUE(missing.out.empty());

  CliResult test = run_cli({"providers", "test", "--provider", "openai"});
  EXPECT_EQ(test.status, 0) << test.out << test.err;
  EXPECT_NE(test.out.find("ok    openai"), std::string::npos) << test.out;

  CliResult unknown = run_cli({"generate", "--provider", "nosuch", "--model", "m", "--prompt", "Hi"});
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.err.find("unknown provider `nosuch`"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace ia::test
