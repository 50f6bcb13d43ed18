// --kv-cache-dtype end to end (docs/quantization.md#kv-cache): generate on an int8 KV cache keeps
// the f32 cache's greedy tokens, serve runs its batch engine on one (the log says so, and a
// concurrent pair of requests answers as each alone), and a bad value, or an int8 cache on a
// backend without one, exits 2 with one line.
#include <gtest/gtest.h>

#include <fstream>
#include <future>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "integration/cli_runner.h"
#include "integration/serve_client.h"

namespace ia::test {
namespace {

using nlohmann::json;

const std::string kLlama = std::string(IA_FIXTURES_DIR) + "/models/llama";

TEST(CliKvCacheDtype, Int8GeneratesTheF32GreedyTokens) {
  std::ifstream f(kLlama + "/reference.json");
  auto ref = json::parse(f)["generations"][0];
  auto r = run_cli({"generate", "--model", kLlama, "--prompt", ref["prompt"], "--max-new-tokens", "24", "--temperature",
                    "0", "--ignore-eos", "--json", "--quiet", "--kv-cache-dtype", "int8", "--device", "auto"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = json::parse(r.out);
  EXPECT_EQ(j["device"], "cpu");
  int same = 0;
  for (size_t t = 0; t < 24; ++t) same += j["ids"][t] == ref["greedy_ids"][t];
  EXPECT_GE(same, 20) << r.out;
}

TEST(CliKvCacheDtype, BadValuesAreExitTwo) {
  for (const char* bad : {"int4", "fp8"})
    expect_user_error(run_cli({"generate", "--model", kLlama, "--prompt", "hi", "--kv-cache-dtype", bad}),
                      "--kv-cache-dtype");
  expect_user_error(run_cli({"serve", "--model", kLlama, "--port", "0", "--kv-cache-dtype", "int3"}),
                    "--kv-cache-dtype");
}

// The CUDA backend keeps no int8 cache: refused at load in one line naming the backend and the
// dtype (without a GPU, --device cuda itself is what is refused).
TEST(CliKvCacheDtype, CudaRefusesAnInt8Cache) {
  const CliResult r = run_cli({"generate", "--model", kLlama, "--prompt", "hi", "--max-new-tokens", "2", "--device",
                               "cuda", "--kv-cache-dtype", "int8"});
  expect_user_error(r, has_backend(Device::cuda(0)) ? "has no int8 KV cache" : "cuda");
}

TEST(CliKvCacheDtype, ServeRunsItsBatchEngineOnAnInt8Cache) {
  ServeProcess s({"-m", kLlama, "--kv-cache-dtype", "int8", "-v"});
  ASSERT_TRUE(s.ready()) << s.log();
  EXPECT_NE(s.log().find("tokens (int8)"), std::string::npos) << s.log();
  auto body = [](const std::string& prompt) {
    return json{{"model", "llama"}, {"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}, {"ignore_eos", true}}
        .dump();
  };
  const std::vector<std::string> prompts = {"Hello there, how are", "Once upon a time in a land"};
  std::vector<std::string> alone;
  for (const auto& p : prompts) {
    const HttpAnswer a = post_json(s, "/v1/completions", body(p));
    ASSERT_EQ(a.status, 200) << a.body << s.log();
    alone.push_back(a.json()["choices"][0]["text"]);
    EXPECT_EQ(a.json()["usage"]["completion_tokens"], 12) << a.body;
  }
  std::vector<std::future<HttpAnswer>> together;
  for (const auto& p : prompts)
    together.push_back(
        std::async(std::launch::async, [&s, b = body(p)] { return post_json(s, "/v1/completions", b); }));
  for (size_t i = 0; i < prompts.size(); ++i) {
    const HttpAnswer a = together[i].get();
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(a.json()["choices"][0]["text"], alone[i]) << prompts[i];
  }
}

}  // namespace
}  // namespace ia::test
