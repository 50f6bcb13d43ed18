// Untrusted model folders and inputs through the CLI: each failure is exit 2,
// one stderr line and nothing on stdout, within a bounded time.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

const std::string kFixtures = std::string(IA_FIXTURES_DIR) + "/models/";

std::string nested(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

// The fixture folder with config.json's `key` set to `value`.
std::string qwen2_with(const TempDir& dir, const std::string& key, const nlohmann::json& value) {
  const std::string d = dir.path() + "/m";
  copy_model("qwen2", d);
  nlohmann::json cfg = nlohmann::json::parse(read_file(d + "/config.json"));
  cfg[key] = value;
  write_file(d + "/config.json", cfg.dump());
  return d;
}

TEST(CliUntrustedInput, NegativeMaxWindowLayers) {
  TempDir dir;
  std::string d = dir.path() + "/m";
  copy_model("qwen2", d);
  nlohmann::json cfg = nlohmann::json::parse(read_file(d + "/config.json"));
  cfg["use_sliding_window"] = true;
  cfg["sliding_window"] = 4;
  cfg["max_window_layers"] = -1000000;  // was SIGSEGV
  cfg.erase("layer_types");             // which would take precedence over max_window_layers
  write_file(d + "/config.json", cfg.dump());
  expect_user_error(run_cli({"generate", "--model", d, "--max-new-tokens", "1", "--prompt", "hi"}),
                    "max_window_layers");
}

TEST(CliUntrustedInput, HugeLayerCount) {
  TempDir dir;
  expect_user_error(run_cli({"generate", "--model", qwen2_with(dir, "num_hidden_layers", 536870912), "--max-new-tokens",
                             "1", "--prompt", "hi"}),
                    "num_hidden_layers");
}

TEST(CliUntrustedInput, NegativeRmsNormEps) {
  TempDir dir;
  expect_user_error(run_cli({"generate", "--model", qwen2_with(dir, "rms_norm_eps", -1e-6), "--max-new-tokens", "1",
                             "--prompt", "hi"}),
                    "rms_norm_eps");
}

TEST(CliUntrustedInput, DeepConfigJson) {
  TempDir dir;
  const std::string d = dir.path() + "/m";
  copy_model("qwen2", d);
  write_file(d + "/config.json", "{\"x\": " + nested(100000) + "}");
  expect_user_error(run_cli({"inspect", "--model", d}), "nested deeper");
}

TEST(CliUntrustedInput, DeepTokenizerJson) {
  TempDir dir;
  const std::string d = dir.path() + "/m";
  copy_model("llama", d);
  write_file(d + "/tokenizer.json", "{\"x\": " + nested(100000) + "}");
  expect_user_error(run_cli({"tokenize", "--model", d, "hi"}), "nested deeper");
}

TEST(CliUntrustedInput, ThreadsBounded) {
  expect_user_error(run_cli({"--threads", "100000", "tokenize", "--model", kFixtures + "llama", "hi"}), "--threads");
}

TEST(CliUntrustedInput, DeepMessages) {
  TempDir dir;
  write_file(dir.path() + "/m.json", nested(100000));
  expect_user_error(run_cli({"chat", "--model", kFixtures + "qwen2", "--messages", dir.path() + "/m.json"}),
                    "nested deeper");
}

TEST(CliUntrustedInput, MessagesFromAnOversizedStreamAreCapped) {
  const auto t0 = std::chrono::steady_clock::now();
  expect_user_error(run_cli({"chat", "--model", kFixtures + "qwen2", "--messages", "-"}, std::string(65u << 20, ' ')),
                    "limit");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
}

TEST(CliUntrustedInput, Tokenize512KbInBoundedTime) {
  TempDir dir;
  std::string text;
  while (text.size() < 512 * 1024) text += "The quick brown fox jumps over the lazy dog. ";
  write_file(dir.path() + "/in.jsonl", nlohmann::json(text).dump() + "\n");
  const auto t0 = std::chrono::steady_clock::now();
  CliResult r = run_cli({"tokenize", "--model", kFixtures + "llama", "--input", dir.path() + "/in.jsonl"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);  // was 67 s
  EXPECT_GT(nlohmann::json::parse(r.out)["ids"].size(), 1000u);
}

}  // namespace
}  // namespace ia::test
