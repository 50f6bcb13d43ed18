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
  cfg["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}, {"version", "gemv"}};
  write_file(dir.path() + "/config.json", cfg.dump());
  expect_user_error(run_cli({"generate", "--model", dir.path(), "--prompt", "hi"}), "gemv");
  cfg["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 8}, {"group_size", 128}};
  write_file(dir.path() + "/config.json", cfg.dump());
  expect_user_error(run_cli({"generate", "--model", dir.path(), "--prompt", "hi"}), "8-bit group_size 128");
}

// `quantize --method M --out DIR`: a GPTQ folder that generates the same greedy tokens as the
// source model loaded with `--quantize M` (the 4-bit grids are the same bit for bit).
TEST(CliQuantize, WritesAGptqFolderThatGeneratesLikeQuantizeAtLoad) {
  TempDir dir;
  const std::string out = dir.path() + "/llama-q4z";
  auto w = run_cli({"quantize", "--model", kLlama, "--method", "q4z", "--out", out});
  ASSERT_EQ(w.status, 0) << w.err;
  auto summary = nlohmann::json::parse(w.out);
  EXPECT_EQ(summary["quant_method"], "gptq");
  EXPECT_EQ(summary["bits"], 4);
  EXPECT_EQ(summary["group_size"], 32);
  EXPECT_EQ(summary["checkpoint_format"], "gptq");
  EXPECT_EQ(summary["packed_layers"], 14);  // 2 layers x (q, k, v, o, gate, up, down)
  auto config = nlohmann::json::parse(read_file(out + "/config.json"));
  EXPECT_EQ(config["quantization_config"]["sym"], false);
  const std::vector<std::string> gen = {"generate",
                                        "--prompt",
                                        "The capital of France is",
                                        "--max-new-tokens",
                                        "12",
                                        "--temperature",
                                        "0",
                                        "--ignore-eos",
                                        "--json",
                                        "--quiet"};
  auto args = gen;
  args.insert(args.end(), {"--model", out, "--quantize", "q4z"});
  auto from_folder = run_cli(args);
  args = gen;
  args.insert(args.end(), {"--model", kLlama, "--quantize", "q4z"});
  auto at_load = run_cli(args);
  ASSERT_EQ(from_folder.status, 0) << from_folder.err;
  ASSERT_EQ(at_load.status, 0) << at_load.err;
  EXPECT_EQ(nlohmann::json::parse(from_folder.out)["ids"], nlohmann::json::parse(at_load.out)["ids"]);

  // Bad input: an existing non-empty --out, an unknown method, --out missing, a quantized source.
  expect_user_error(run_cli({"quantize", "--model", kLlama, "--method", "q4", "--out", out}), "--force");
  expect_user_error(run_cli({"quantize", "--model", kLlama, "--method", "q3", "--out", dir.path() + "/x"}), "q3");
  expect_user_error(run_cli({"quantize", "--model", kLlama, "--method", "q4"}), "--out");
  expect_user_error(run_cli({"quantize", "--model", out, "--method", "q4", "--out", dir.path() + "/y"}),
                    "already quantized");
  auto forced = run_cli({"quantize", "--model", kLlama, "--method", "int8", "--out", out, "--force"});
  ASSERT_EQ(forced.status, 0) << forced.err;
  EXPECT_EQ(nlohmann::json::parse(read_file(out + "/config.json"))["quantization_config"]["bits"], 8);
}

TEST(CliQuantize, AnalyzeComparesTheMethods) {
  TempDir dir;
  const std::string text = dir.path() + "/text.txt";
  write_file(text, "The quick brown fox jumps over the lazy dog. A second sentence follows the first one here.");
  auto r = run_cli({"quantize", "--analyze", "--model", kLlama, "--text", text, "--methods", "int8,q4z", "--format",
                    "json", "--window", "16", "--bandwidth-mib", "16", "--decode-tokens", "4", "--dtype", "f32"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["copy_bytes_per_s"].get<double>(), 1e8);
  ASSERT_EQ(j["methods"].size(), 3u);
  const auto& none = j["methods"][0];
  const auto& int8 = j["methods"][1];
  const auto& q4z = j["methods"][2];
  EXPECT_EQ(none["method"], "none");
  EXPECT_EQ(int8["method"], "int8");
  EXPECT_EQ(q4z["method"], "q4z");
  EXPECT_NEAR(none["bits_per_weight"].get<double>(), 32.0, 1e-9);
  // int8's matrices: 8 bits and a 32-bit scale per row of 64 or 128 inputs.
  EXPECT_GT(int8["bits_per_weight"].get<double>(), 8.0);
  EXPECT_LT(int8["bits_per_weight"].get<double>(), 8.6);
  // q4z: 4.75 bits in the layers, the 8-bit head.
  EXPECT_LT(q4z["bits_per_weight"].get<double>(), int8["bits_per_weight"].get<double>());
  EXPECT_LT(q4z["disk_bytes"].get<double>(), int8["disk_bytes"].get<double>());
  EXPECT_LT(int8["disk_bytes"].get<double>(), none["disk_bytes"].get<double>());
  EXPECT_LT(int8["matrix_bytes"].get<double>(), none["matrix_bytes"].get<double>() / 3);
  for (const auto& m : j["methods"]) {
    // Modelled: bandwidth / bytes per token, exactly.
    EXPECT_DOUBLE_EQ(m["modelled_decode_tok_s"].get<double>(),
                     j["copy_bytes_per_s"].get<double>() / m["matrix_bytes"].get<double>());
    EXPECT_GT(m["measured_decode_tok_s"].get<double>(), 0.0);
    EXPECT_GT(m["memory_bytes"].get<double>(), m["matrix_bytes"].get<double>());
  }
  EXPECT_EQ(none["kl_mean"], 0.0);
  EXPECT_GT(int8["kl_mean"].get<double>(), 0.0);
  EXPECT_LT(int8["kl_mean"].get<double>(), q4z["kl_mean"].get<double>());
  EXPECT_LT(q4z["kl_mean"].get<double>(), 0.1);
  EXPECT_GE(int8["top1_agreement"].get<double>(), 0.9);
  // The table names every method.
  auto t = run_cli({"quantize", "--analyze", "--model", kLlama, "--text", text, "--methods", "q4", "--window", "16",
                    "--bandwidth-mib", "16", "--decode-tokens", "0"});
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_NE(t.out.find("\nnone "), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("\nq4 "), std::string::npos) << t.out;
  expect_user_error(run_cli({"quantize", "--analyze", "--model", kLlama, "--text", text, "--methods", "q5"}), "q5");
}

}  // namespace
}  // namespace ia::test
