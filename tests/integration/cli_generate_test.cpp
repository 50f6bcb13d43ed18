// `generate` end to end: the --json shape, greedy parity with the fixture, and
// bad input giving exit status 2 with one clear line on stderr.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

const std::string kLlama = std::string(IA_FIXTURES_DIR) + "/models/llama";

TEST(CliGenerate, JsonGreedyMatchesReference) {
  std::ifstream f(kLlama + "/reference.json");
  auto ref = nlohmann::json::parse(f)["generations"][0];
  auto r = run_cli({"generate", "--model", kLlama, "--prompt", ref["prompt"], "--max-new-tokens", "24", "--temperature",
                    "0", "--ignore-eos", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prompt_ids"], ref["input_ids"]);
  EXPECT_EQ(j["ids"], ref["greedy_ids"]);
  EXPECT_EQ(j["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 24);
  EXPECT_TRUE(j["timings"].contains("prefill_ms"));
  EXPECT_TRUE(j["timings"].contains("decode_tokens_per_s"));
  // One speed line on stderr, with the counts of this run (as llama-cli prints at the end).
  const std::vector<std::string> lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  const std::string& speed = lines[0];
  EXPECT_EQ(speed.rfind("speed: prompt " + std::to_string(ref["input_ids"].size()) + " tokens", 0), 0u) << speed;
  EXPECT_NE(speed.find("generated 24 tokens"), std::string::npos) << speed;
  EXPECT_NE(speed.find("first token after"), std::string::npos) << speed;
  // --quiet (before or after the command) keeps stderr empty.
  auto q = run_cli({"generate", "--model", kLlama, "--prompt", ref["prompt"], "--max-new-tokens", "24", "--temperature",
                    "0", "--ignore-eos", "--json", "--quiet"});
  ASSERT_EQ(q.status, 0) << q.err;
  EXPECT_TRUE(q.err_lines().empty()) << q.err;
  EXPECT_EQ(nlohmann::json::parse(q.out)["ids"], ref["greedy_ids"]);
}

// An encoder-decoder (T5) through `generate`: the prompt is the encoder's input, greedy ids are
// the fixture's, and beam search runs with its flags (bad ones exit 2).
TEST(CliGenerate, T5GreedyAndBeamSearch) {
  const std::string t5 = std::string(IA_FIXTURES_DIR) + "/models/t5";
  std::ifstream f(t5 + "/reference.json");
  auto ref = nlohmann::json::parse(f)["generations"][1];
  auto r = run_cli({"generate", "--model", t5, "--prompt", ref["prompt"], "--max-new-tokens", "16", "--temperature",
                    "0", "--ignore-eos", "--json", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prompt_ids"], ref["input_ids"]);
  EXPECT_EQ(j["ids"], ref["greedy_ids"]);
  EXPECT_FALSE(j.contains("beam_score"));
  auto b = run_cli({"generate", "--model", t5, "--prompt", ref["prompt"], "--max-new-tokens", "8", "--num-beams", "4",
                    "--length-penalty", "0.6", "--early-stopping", "never", "--no-repeat-ngram-size", "2", "--json",
                    "--quiet"});
  ASSERT_EQ(b.status, 0) << b.err;
  auto bj = nlohmann::json::parse(b.out);
  EXPECT_TRUE(bj.contains("beam_score"));
  EXPECT_LE(bj["ids"].size(), 8u);
  expect_user_error(run_cli({"generate", "--model", t5, "--prompt", "hi", "--num-beams", "2", "--temperature", "0.7"}),
                    "beam search");
  expect_user_error(run_cli({"generate", "--model", t5, "--prompt", "hi", "--num-beams", "2", "--stop", "x"}),
                    "stop strings");
  expect_user_error(run_cli({"generate", "--model", t5, "--prompt", "hi", "--num-beams", "0"}), "num_beams");
  expect_user_error(run_cli({"generate", "--model", t5, "--prompt", "hi", "--early-stopping", "maybe"}),
                    "early-stopping");
}

TEST(CliGenerate, BadInputIsExitTwoWithOneLine) {
  expect_user_error(run_cli({"generate", "--model", kLlama, "--prompt", "hi", "--max-new-tokens", "0"}),
                    "max_new_tokens");
  expect_user_error(run_cli({"generate", "--model", kLlama, "--prompt", "hi", "--max-new-tokens=-3"}),
                    "max_new_tokens");
  expect_user_error(run_cli({"generate", "--model", kLlama, "--prompt", "hi", "--temperature=-0.5"}), "temperature");
  expect_user_error(run_cli({"generate", "--model", kLlama, "--prompt", "hi", "--temperature", "1", "--top-p", "0"}),
                    "top_p");
  expect_user_error(run_cli({"generate", "--model", kLlama, "--prompt", "hi", "--temperature", "1", "--top-p", "1.5"}),
                    "top_p");
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "hello world ";
  expect_user_error(run_cli({"generate", "--model", kLlama, "--prompt", long_prompt, "--max-new-tokens", "4"}),
                    "context");
}

TEST(CliGenerate, UnknownArchitectureIsExitTwo) {
  TempDir dir;
  copy_model("llama", dir.path());
  auto cfg = nlohmann::json::parse(read_file(dir.path() + "/config.json"));
  cfg["model_type"] = "frobnicator";
  write_file(dir.path() + "/config.json", cfg.dump());
  expect_user_error(run_cli({"generate", "--model", dir.path(), "--prompt", "hi"}), "frobnicator");
}

TEST(CliGenerate, RandomModelLoadsAndGenerates) {
  TempDir dir;
  auto w = run_cli(
      {"dev", "random-model", "--like", kLlama + "/config.json", "--dtype", "bf16", "--out", dir.path() + "/m"});
  ASSERT_EQ(w.status, 0) << w.err;
  auto r = run_cli({"generate", "--model", dir.path() + "/m", "--prompt", "hello", "--max-new-tokens", "5",
                    "--ignore-eos", "--dtype", "bf16", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["ids"].size(), 5u);
}

}  // namespace
}  // namespace ia::test

namespace ia::test {
namespace {

TEST(CliGenerate, VerboseSaysWhatLoadsFromWhereAndHowLong) {
  auto r = run_cli({"-v", "generate", "--model", kLlama, "--prompt", "hi", "--max-new-tokens", "2", "--dtype", "f32"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("loading generator from " + kLlama + " (f32, cpu)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("loaded generator from " + kLlama + " in "), std::string::npos) << r.err;
  auto quiet = run_cli({"generate", "--model", kLlama, "--prompt", "hi", "--max-new-tokens", "2"});
  ASSERT_EQ(quiet.status, 0) << quiet.err;
  EXPECT_EQ(quiet.err.find("loading"), std::string::npos) << quiet.err;
}

}  // namespace
}  // namespace ia::test
