// `serve`'s resource pool over HTTP on loopback (runtime/model_pool.h, docs/server.md): two
// models under a --max-memory that holds one (A, then B unloads A, then A loads again and
// answers the same), a model answering a request is not unloaded (the other's load is a 503
// naming the sizes), the idle timeout, --low-memory, /v1/models' and /v1/pool's fields,
// `ipfs-accelerate status`, and bad values refused at the command line.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "integration/cli_runner.h"
#include "integration/serve_client.h"

namespace ia::test {
namespace {

using nlohmann::json;

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";

// The fixtures' llama takes about 1.1 MiB here (weights and a KV pool of 4 x 64 tokens), qwen2
// about 0.7 MiB: 1.5 MiB holds one of them, not both.
const std::vector<std::string> kTwoModels{"-m", kModels + "llama", "-m", kModels + "qwen2", "--max-model-len",
                                          "64", "--max-num-seqs",  "4"};

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

HttpAnswer complete(const ServeProcess& s, const std::string& model, int max_tokens = 8) {
  return post_json(s, "/v1/completions",
                   json{{"model", model}, {"prompt", "Hello"}, {"max_tokens", max_tokens}, {"temperature", 0}}.dump());
}

std::string text_of(const HttpAnswer& a) {
  EXPECT_EQ(a.status, 200) << a.body;
  return a.status == 200 ? a.json()["choices"][0]["text"].get<std::string>() : "";
}

json pooled(const ServeProcess& s, const std::string& name) {
  const HttpAnswer a = get(s, "/v1/pool");
  EXPECT_EQ(a.status, 200) << a.body;
  const json pool = a.json();
  for (const auto& m : pool["models"])
    if (m["name"] == name) return m;
  ADD_FAILURE() << "no " << name << " in /v1/pool: " << a.body;
  return json::object();
}

// Waits (up to 10 s) until `pred` holds of the model's /v1/pool entry.
template <typename Pred>
bool wait_for_pool(const ServeProcess& s, const std::string& name, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred(pooled(s, name))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(ServePool, ALimitThatHoldsOneModelUnloadsTheIdleOneAndLoadsItAgain) {
  ServeProcess server(with(kTwoModels, {"--max-memory", "cpu=1.5MiB"}));
  ASSERT_TRUE(server.ready()) << server.log();
  // Both loaded once at startup; the second unloaded the first.
  EXPECT_FALSE(pooled(server, "llama")["loaded"].get<bool>());
  EXPECT_TRUE(pooled(server, "qwen2")["loaded"].get<bool>());

  const std::string a1 = text_of(complete(server, "llama"));  // A: loads again, qwen2 goes
  json llama = pooled(server, "llama"), qwen2 = pooled(server, "qwen2");
  EXPECT_TRUE(llama["loaded"].get<bool>());
  EXPECT_FALSE(qwen2["loaded"].get<bool>());
  EXPECT_EQ(qwen2["live_bytes"], 0) << "qwen2's memory was not freed: " << qwen2;
  EXPECT_GT(llama["weights_bytes"].get<int64_t>(), 500'000) << llama;
  EXPECT_EQ(llama["kv_cache_bytes"].get<int64_t>() % (4 * 64), 0) << llama;
  EXPECT_EQ(llama["in_flight"], 0);

  const std::string b = text_of(complete(server, "qwen2"));  // B: llama goes
  EXPECT_FALSE(pooled(server, "llama")["loaded"].get<bool>());
  EXPECT_EQ(pooled(server, "llama")["live_bytes"], 0);

  const std::string a2 = text_of(complete(server, "llama"));  // A again, from its folder
  EXPECT_EQ(a1, a2);
  EXPECT_FALSE(a1.empty());
  llama = pooled(server, "llama");
  EXPECT_EQ(llama["loads"], 3) << llama;
  EXPECT_EQ(llama["unloads"], 2) << llama;

  // /v1/models shows the pool's view of each model.
  const json models = get(server, "/v1/models").json()["data"];
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0]["id"], "llama");
  EXPECT_EQ(models[0]["device"], "cpu");
  EXPECT_EQ(models[0]["loaded"], true);
  EXPECT_GT(models[0]["bytes"].get<int64_t>(), 0);
  EXPECT_EQ(models[0]["in_flight"], 0);
  EXPECT_TRUE(models[0]["last_used"].is_number_integer());
  EXPECT_EQ(models[1]["loaded"], false);
  EXPECT_EQ(models[1]["bytes"], 0);

  const json pool = get(server, "/v1/pool").json();
  ASSERT_EQ(pool["devices"].size(), 1u);
  EXPECT_EQ(pool["devices"][0]["limit_bytes"], 1572864);
  EXPECT_EQ(pool["devices"][0]["loaded_models"], 1);
  EXPECT_EQ(pool["low_memory"], false);

  // `status` prints the same, as JSON or as a table.
  const CliResult status = run_cli({"status", "--url", server.url()});
  ASSERT_EQ(status.status, 0) << status.err;
  EXPECT_EQ(json::parse(status.out)["models"][0]["name"], "llama");
  const CliResult table = run_cli({"status", "--url", server.url(), "--format", "table"});
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("cpu             1.5 MiB"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("llama cpu     yes"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("qwen2 cpu     no"), std::string::npos) << table.out;
  EXPECT_EQ(server.terminate(), 0);
}

TEST(ServePool, AModelAnsweringARequestIsNotUnloadedAndTheOtherLoadIsA503NamingTheSizes) {
  // Each step takes 100 ms (test instrumentation): a 30-token completion holds llama for 3 s.
  ServeProcess server(with(kTwoModels, {"--max-memory", "1.5MiB"}), {{"IA_SERVE_TEST_TOKEN_DELAY_MS", "100"}});
  ASSERT_TRUE(server.ready()) << server.log();
  auto slow = std::async(std::launch::async, [&server] { return complete(server, "llama", 30); });
  ASSERT_TRUE(wait_for_pool(server, "llama", [](const json& m) { return m["in_flight"] == 1; }));
  const HttpAnswer refused = complete(server, "qwen2");
  EXPECT_EQ(refused.status, 503) << refused.body;
  const json error = refused.json()["error"];
  EXPECT_EQ(error["code"], "model_pool_busy");
  const std::string message = error["message"];
  EXPECT_NE(message.find("`qwen2` needs at least"), std::string::npos) << message;
  EXPECT_NE(message.find("the memory limit there is 1.5 MiB"), std::string::npos) << message;
  EXPECT_NE(message.find("`llama` ("), std::string::npos) << message;
  EXPECT_NE(message.find("1 in flight"), std::string::npos) << message;
  bool retry_after = false;
  for (const auto& [k, v] : refused.headers) retry_after |= k == "Retry-After";
  EXPECT_TRUE(retry_after);
  // The request on llama was never disturbed; once it is done, qwen2 loads and llama goes.
  const HttpAnswer done = slow.get();
  EXPECT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.json()["usage"]["completion_tokens"], 30);
  EXPECT_EQ(pooled(server, "llama")["unloads"], 1);  // at startup only
  // The lease ends when the handler returns, just after the answer's last byte: until then a
  // load of qwen2 is (rightly) a 503, so wait for it rather than race it.
  ASSERT_TRUE(wait_for_pool(server, "llama", [](const json& m) { return m["in_flight"] == 0; }));
  EXPECT_EQ(complete(server, "qwen2").status, 200);
  EXPECT_FALSE(pooled(server, "llama")["loaded"].get<bool>());
  EXPECT_EQ(server.terminate(), 0);
}

TEST(ServePool, IdleModelsAreUnloadedAfterTheTimeoutAndLoadedByTheNextRequest) {
  ServeProcess server({"-m", kModels + "llama", "--max-model-len", "64", "--idle-timeout", "0.3"});
  ASSERT_TRUE(server.ready()) << server.log();
  const std::string before = text_of(complete(server, "llama"));
  ASSERT_TRUE(wait_for_pool(server, "llama", [](const json& m) { return m["loaded"] == false; }));
  EXPECT_EQ(pooled(server, "llama")["live_bytes"], 0);
  EXPECT_EQ(text_of(complete(server, "llama")), before);
  EXPECT_EQ(pooled(server, "llama")["loads"], 2);
  EXPECT_EQ(get(server, "/v1/pool").json()["idle_timeout_s"], 0.3);
  EXPECT_EQ(server.terminate(), 0);
}

TEST(ServePool, LowMemoryHoldsOneModelInBf16WithASmallerKvPool) {
  ServeProcess normal({"-m", kModels + "llama", "--max-model-len", "64"});
  ServeProcess low({"-m", kModels + "llama", "-m", kModels + "qwen2", "--max-model-len", "64", "--low-memory"});
  ASSERT_TRUE(normal.ready()) << normal.log();
  ASSERT_TRUE(low.ready()) << low.log();
  const json pool = get(low, "/v1/pool").json();
  EXPECT_EQ(pool["low_memory"], true);
  EXPECT_EQ(pool["max_resident"], 1);
  EXPECT_EQ(pool["devices"][0]["loaded_models"], 1);
  EXPECT_EQ(get(low, "/v1/models").json()["data"][0]["dtype"], "bf16");  // the fixture is f32
  EXPECT_EQ(get(normal, "/v1/models").json()["data"][0]["dtype"], "f32");
  EXPECT_EQ(complete(low, "llama").status, 200);
  EXPECT_EQ(pooled(low, "qwen2")["loaded"], false);
  // A KV pool of 4 sequences instead of --max-num-seqs' 64.
  EXPECT_EQ(pooled(low, "llama")["kv_cache_bytes"].get<int64_t>() * 16,
            pooled(normal, "llama")["kv_cache_bytes"].get<int64_t>());
  // bf16 weights: well under the f32 ones (embeddings and norms stay f32).
  EXPECT_LT(pooled(low, "llama")["weights_bytes"].get<int64_t>(),
            pooled(normal, "llama")["weights_bytes"].get<int64_t>() * 3 / 4);
  EXPECT_EQ(low.terminate(), 0);
  EXPECT_EQ(normal.terminate(), 0);
}

// The same cycle on a GPU, one model at a time: A, then B unloads A (its device memory given
// back: its account holds nothing), then A loads again and answers as before.
TEST(ServePool, OnAGpuOneModelAtATimeUnloadsAndReloads) {
  if (!has_backend(Device::cuda(0))) GTEST_SKIP() << "no usable GPU here";
  ServeProcess server({"-m", kModels + "llama", "-m", kModels + "qwen2", "--max-model-len", "64", "--device", "cuda",
                       "--low-memory", "--max-memory", "cuda:0=2GiB"});
  ASSERT_TRUE(server.ready()) << server.log();
  const std::string a1 = text_of(complete(server, "llama"));
  json llama = pooled(server, "llama");
  EXPECT_EQ(llama["device"], "cuda:0");
  EXPECT_TRUE(llama["loaded"].get<bool>());
  EXPECT_GT(llama["weights_bytes"].get<int64_t>(), 0);
  EXPECT_GT(llama["kv_cache_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(text_of(complete(server, "qwen2")).empty(), false);
  llama = pooled(server, "llama");
  EXPECT_FALSE(llama["loaded"].get<bool>());
  EXPECT_EQ(llama["live_bytes"], 0) << llama;
  EXPECT_EQ(text_of(complete(server, "llama")), a1);
  const json pool = get(server, "/v1/pool").json();
  EXPECT_EQ(pool["devices"][0]["device"], "cuda:0");
  EXPECT_EQ(pool["devices"][0]["limit_bytes"], int64_t{2} << 30);
  EXPECT_EQ(server.terminate(), 0);
}

TEST(ServePool, AModelLargerThanTheLimitStopsTheServerNamingTheSizes) {
  // serve logs its "listening" line before the models load; the error is the last line.
  const CliResult r = run_cli({"serve", "--port", "0", "-m", kModels + "llama", "--max-memory", "100KiB"});
  EXPECT_EQ(r.status, 2) << r.err;
  ASSERT_FALSE(r.err_lines().empty());
  const std::string last = r.err_lines().back();
  EXPECT_EQ(last.rfind("ipfs-accelerate: error: model `llama` needs at least ", 0), 0u) << r.err;
  EXPECT_NE(last.find("on cpu, more than the memory limit there (--max-memory 100.0 KiB)"), std::string::npos) << r.err;
}

TEST(ServePool, BadValuesAreRefusedAtTheCommandLine) {
  const std::string llama = kModels + "llama";
  expect_user_error(run_cli({"serve", "-m", llama, "--max-memory", "lots"}), "`lots` is not a size");
  expect_user_error(run_cli({"serve", "-m", llama, "--max-memory", "0"}), "at least 1 byte");
  expect_user_error(run_cli({"serve", "-m", llama, "--max-memory", "gpu=8GiB"}), "`gpu` is not a device");
  expect_user_error(run_cli({"serve", "-m", llama, "--max-memory", "cpu=1GiB,cpu=2GiB"}), "names cpu twice");
  expect_user_error(run_cli({"serve", "-m", llama, "--max-memory", "cpu=1GiB,"}), "empty part");
  expect_user_error(run_cli({"serve", "-m", llama, "--max-memory", "cuda:0=8XB"}), "`8XB` is not a size");
  expect_user_error(run_cli({"serve", "-m", llama, "--idle-timeout", "-1"}), "--idle-timeout");
  expect_user_error(run_cli({"serve", "-m", llama, "--db", "/nonexistent/results.sqlite"}), "no such results database");
  // `status` with no server there.
  expect_user_error(run_cli({"status", "--url", "http://127.0.0.1:1"}), "no answer from http://127.0.0.1:1");
  expect_user_error(run_cli({"status", "--format", "yaml"}), "--format");
}

}  // namespace
}  // namespace ia::test
