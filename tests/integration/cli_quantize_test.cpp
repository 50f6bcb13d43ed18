// --quantize and `eval --kl-divergence` end to end (docs/quantization.md): a packed model
// generates, eval reports the KL divergence and top-1 agreement against the unquantized model,
// and bad input (an unknown method, a GPTQ folder of an unsupported width, a CUDA device for
// packed weights) exits 2 with one line.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

const std::string kLlama = std::string(IA_FIXTURES_DIR) + "/models/llama";

TEST(CliQuantize, Int8GeneratesTheF32GreedyTokens) {
  std::ifstream f(kLlama + "/reference.json");
  auto ref = nlohmann::json::parse(f)["generations"][0];
  auto r = run_cli({"generate", "--model", kLlama, "--prompt", ref["prompt"], "--max-new-tokens", "24", "--temperature",
                    "0", "--ignore-eos", "--json", "--quiet", "--quantize", "int8", "--device", "auto"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["device"], "cpu");
  int same = 0;
  for (size_t t = 0; t < 24; ++t) same += j["ids"][t] == ref["greedy_ids"][t];
  EXPECT_GE(same, 20) << r.out;
}

TEST(CliQuantize, EvalKlDivergence) {
  TempDir dir;
  const std::string text = dir.path() + "/text.txt";
  write_file(text, "The quick brown fox jumps over the lazy dog. A second sentence follows the first one here.");
  auto r =
      run_cli({"eval", "--kl-divergence", "--model", kLlama, "--quantize", "q4", "--text", text, "--window", "16"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["quantize"], "q4");
  EXPECT_GT(j["positions"].get<int>(), 10);
  EXPECT_GE(j["windows"].get<int>(), 2);
  EXPECT_GT(j["kl_divergence"]["mean"].get<double>(), 0.0);
  EXPECT_LT(j["kl_divergence"]["mean"].get<double>(), 0.1);
  EXPECT_GE(j["top1_agreement"].get<double>(), 0.7);
  EXPECT_GT(j["perplexity"]["base"].get<double>(), 1.0);
  // The same model as its own base is refused; so is eval without a measure.
  expect_user_error(run_cli({"eval", "--kl-divergence", "--model", kLlama, "--text", text}), "its own base");
  expect_user_error(run_cli({"eval", "--model", kLlama, "--quantize", "q4", "--text", text}), "--kl-divergence");
}

TEST(CliQuantize, BadInputIsExitTwo) {
  expect_user_error(run_cli({"generate", "--model", kLlama, "--prompt", "hi", "--quantize", "q3"}), "q3");
  // A GPTQ folder of a width that is not loaded is refused by name.
  TempDir dir;
  copy_model("llama", dir.path());
  auto cfg = nlohmann::json::parse(read_file(dir.path() + "/config.json"));
  cfg["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 3}, {"group_size", 128}};
  write_file(dir.path() + "/config.json", cfg.dump());
  expect_user_error(run_cli({"generate", "--model", dir.path(), "--prompt", "hi"}), "3 bits");
  cfg["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}};
  write_file(dir.path() + "/config.json", cfg.dump());
  expect_user_error(run_cli({"generate", "--model", dir.path(), "--prompt", "hi"}), "awq");
}

}  // namespace
}  // namespace ia::test
