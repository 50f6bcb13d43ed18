// The CLI end to end: JSON shapes on stdout, and every bad input giving exit
// status 2 with one clear line on stderr.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

const std::string kBert = std::string(IA_FIXTURES_DIR) + "/models/bert";

nlohmann::json parse_out(const CliResult& r) {
  EXPECT_EQ(r.status, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(Cli, EmbedJsonShape) {
  auto j = parse_out(run_cli({"embed", "--model", kBert, "Hello world", "The quick brown fox"}));
  EXPECT_EQ(j["model"], kBert);
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["dtype"], "f32");
  EXPECT_EQ(j["dimensions"], 32);
  ASSERT_EQ(j["embeddings"].size(), 2u);
  for (const auto& e : j["embeddings"]) {
    ASSERT_EQ(e.size(), 32u);
    double norm = 0;
    for (const auto& v : e) norm += v.get<double>() * v.get<double>();
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5);  // the fixture has a Normalize module
  }
}

TEST(Cli, EmbedReadsStdinOneTextPerLine) {
  auto a = parse_out(run_cli({"embed", "--model", kBert}, "Hello world\nsecond line\n"));
  auto b = parse_out(run_cli({"embed", "--model", kBert, "Hello world", "second line"}));
  EXPECT_EQ(a["embeddings"], b["embeddings"]);
}

TEST(Cli, EmbedPoolingAndDtypeOptions) {
  auto cls = parse_out(run_cli({"embed", "--model", kBert, "--pooling", "cls", "--no-normalize", "hi"}));
  EXPECT_EQ(cls["pooling"], "cls");
  EXPECT_EQ(cls["normalized"], false);
  auto bf = parse_out(run_cli({"embed", "--model", kBert, "--dtype", "bf16", "--batch-size", "1", "a", "b c"}));
  EXPECT_EQ(bf["dtype"], "bf16");
  EXPECT_EQ(bf["embeddings"].size(), 2u);
}

TEST(Cli, TokenizeAndDetokenize) {
  auto t = parse_out(run_cli({"tokenize", "--model", kBert, "Hello world"}));
  ASSERT_TRUE(t["ids"].is_array());
  EXPECT_EQ(t["ids"].front(), 2);  // [CLS]
  EXPECT_EQ(t["ids"].back(), 3);   // [SEP]
  EXPECT_EQ(t["tokens"].size(), t["ids"].size());
  auto n = parse_out(run_cli({"tokenize", "--model", kBert, "--no-special-tokens", "Hello world"}));
  EXPECT_EQ(n["ids"].size() + 2, t["ids"].size());
  std::vector<std::string> args = {"detokenize", "--model", kBert, "--skip-special-tokens"};
  for (const auto& id : t["ids"]) args.push_back(std::to_string(id.get<int>()));
  auto d = parse_out(run_cli(args));
  EXPECT_EQ(d["text"], "hello world");
}

TEST(Cli, InspectAndHardware) {
  auto j = parse_out(run_cli({"inspect", "--model", kBert}));
  EXPECT_EQ(j["family"], "bert");
  EXPECT_EQ(j["architecture"], "BertModel");
  EXPECT_EQ(j["task"], "feature-extraction");
  EXPECT_EQ(j["modality"], "text");
  EXPECT_GT(j["parameters"].get<int64_t>(), 0);
  EXPECT_TRUE(j["files"].is_array());
  auto h = parse_out(run_cli({"hardware"}));
  EXPECT_TRUE(h["cpu"]["model"].is_string());
  EXPECT_TRUE(h["cuda"]["available"].is_boolean());
}

TEST(Cli, HelpForEverySubcommand) {
  for (const char* sub : {"embed", "tokenize", "detokenize", "inspect", "hardware"}) {
    CliResult r = run_cli({sub, "--help"});
    EXPECT_EQ(r.status, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub << ": " << r.out;
  }
  EXPECT_EQ(run_cli({"--help"}).status, 0);
}

TEST(CliBadInput, MissingFolderAndFiles) {
  expect_user_error(run_cli({"embed", "--model", "/nonexistent/model", "hi"}), "/nonexistent/model");
  TempDir dir;
  copy_model("bert", dir.path() + "/m");
  std::filesystem::remove(dir.path() + "/m/config.json");
  expect_user_error(run_cli({"embed", "--model", dir.path() + "/m", "hi"}), "config.json");
  copy_model("bert", dir.path() + "/n");
  std::filesystem::remove(dir.path() + "/n/model.safetensors");
  expect_user_error(run_cli({"embed", "--model", dir.path() + "/n", "hi"}), "safetensors");
}

TEST(CliBadInput, ConfigNotJsonAndUnknownType) {
  TempDir dir;
  copy_model("bert", dir.path() + "/m");
  write_file(dir.path() + "/m/config.json", "{ this is not json");
  expect_user_error(run_cli({"embed", "--model", dir.path() + "/m", "hi"}), "config.json");
  expect_user_error(run_cli({"inspect", "--model", dir.path() + "/m"}), "config.json");
  write_file(dir.path() + "/m/config.json", R"({"model_type": "frobnicator", "hidden_size": 32})");
  expect_user_error(run_cli({"embed", "--model", dir.path() + "/m", "hi"}), "frobnicator");
}

// Rewrites model.safetensors with a header changed by `edit`.
void edit_header(const std::string& path, const std::function<void(nlohmann::json&)>& edit) {
  std::string bytes = read_file(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  nlohmann::json h = nlohmann::json::parse(bytes.substr(8, n));
  edit(h);
  std::string header = h.dump();
  uint64_t m = header.size();
  std::string out(reinterpret_cast<const char*>(&m), 8);
  write_file(path, out + header + bytes.substr(8 + n));
}

TEST(CliBadInput, BrokenSafetensors) {
  TempDir dir;
  const std::string m = dir.path() + "/m", st = m + "/model.safetensors";
  copy_model("bert", m);
  std::string good = read_file(st);

  write_file(st, good.substr(0, good.size() / 2));  // truncated
  expect_user_error(run_cli({"embed", "--model", m, "hi"}), "model.safetensors");

  std::string huge = good;
  uint64_t len = good.size() * 2;
  std::memcpy(huge.data(), &len, 8);  // header length past the end
  write_file(st, huge);
  expect_user_error(run_cli({"embed", "--model", m, "hi"}), "model.safetensors");

  write_file(st, good);
  edit_header(st, [](nlohmann::json& h) {  // two tensors share bytes
    auto a = h["pooler.dense.bias"]["data_offsets"];
    h["embeddings.LayerNorm.bias"]["data_offsets"] = a;
  });
  expect_user_error(run_cli({"embed", "--model", m, "hi"}), "model.safetensors");

  write_file(st, good);
  edit_header(st, [](nlohmann::json& h) {  // offsets beyond the data
    auto& o = h["pooler.dense.bias"]["data_offsets"];
    o[1] = o[1].get<int64_t>() + 1000000;
  });
  expect_user_error(run_cli({"embed", "--model", m, "hi"}), "model.safetensors");

  write_file(st, good);
  write_file(m + "/config.json", [&] {  // the config says hidden 64, the weights are 32 wide
    auto c = nlohmann::json::parse(read_file(std::string(IA_FIXTURES_DIR) + "/models/bert/config.json"));
    c["intermediate_size"] = 48;
    return c.dump();
  }());
  expect_user_error(run_cli({"embed", "--model", m, "hi"}), "shape");
}

TEST(CliBadInput, EmptyTextAndBadFlags) {
  // An empty text embeds as sentence-transformers does ([CLS] [SEP]); with a tokenizer that adds
  // no special tokens it has nothing to pool.
  EXPECT_EQ(parse_out(run_cli({"embed", "--model", kBert, "hello", ""}))["embeddings"].size(), 2u);
  expect_user_error(run_cli({"embed", "--model", std::string(IA_FIXTURES_DIR) + "/models/st-qwen3", "hello", ""}),
                    "no tokens");
  expect_user_error(run_cli({"embed", "--model", kBert, "--dtype", "f8", "hi"}), "f8");
  expect_user_error(run_cli({"embed", "--model", kBert, "--pooling", "median", "hi"}), "median");
  expect_user_error(run_cli({"embed", "--model", kBert, "--batch-size", "0", "hi"}), "batch-size");
  expect_user_error(run_cli({"embed", "--model", kBert, "--device", "tpu", "hi"}), "tpu");
  expect_user_error(run_cli({"detokenize", "--model", kBert, "999999"}), "999999");
  expect_user_error(run_cli({"frobnicate"}), "frobnicate");
}

TEST(CliBadInput, TooLongTextTruncatesOrRefuses) {
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "word ";
  CliResult r = run_cli({"embed", "--model", kBert, long_text});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 128);
  expect_user_error(run_cli({"embed", "--model", kBert, "--no-truncate", long_text}), "limit");
}

}  // namespace
}  // namespace ia::test
