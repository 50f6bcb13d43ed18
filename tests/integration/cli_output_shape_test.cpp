// One output shape: `chat --json` is `generate --json`'s object (the same
// serializer) plus the reply as a message; JSON is one compact line per object
// unless --pretty, which indents the same object, for every command that prints
// JSON; `--stream --json` is one {"delta"} object per line before the result.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

using Json = nlohmann::json;

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";

std::set<std::string> keys(const Json& j) {
  std::set<std::string> out;
  for (const auto& [k, v] : j.items()) out.insert(k);
  return out;
}

std::vector<std::string> lines(const std::string& out) {
  std::vector<std::string> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) v.push_back(line);
  return v;
}

Json ok_json(const CliResult& r) {
  EXPECT_EQ(r.status, 0) << r.err;
  return Json::parse(r.out);
}

Json generate_json(const std::string& n) {
  return ok_json(run_cli({"generate", "--model", kModels + "qwen2", "--prompt", "Hello", "-n", n, "--temperature", "0",
                          "--json", "--quiet"}));
}

Json chat_json(const std::string& n) {
  TempDir dir;
  write_file(dir.path() + "/m.json", R"([{"role": "user", "content": "Hello"}])");
  return ok_json(run_cli({"chat", "--model", kModels + "qwen2", "--messages", dir.path() + "/m.json", "-n", n,
                          "--temperature", "0", "--json", "--quiet"}));
}

TEST(CliOutputShape, ChatAndGenerateShareTheirFieldNames) {
  const Json gen = generate_json("3"), chat = chat_json("3");
  std::set<std::string> chat_only;
  for (const std::string& k : keys(chat))
    if (!gen.contains(k)) chat_only.insert(k);
  EXPECT_EQ(chat_only, std::set<std::string>{"message"}) << chat.dump();
  for (const std::string& k : keys(gen)) {
    ASSERT_TRUE(chat.contains(k)) << k;
    EXPECT_EQ(chat[k].type(), gen[k].type()) << k;
  }
  for (const std::string k : {"model", "device", "dtype", "text", "finish_reason", "usage", "timings"})
    EXPECT_TRUE(gen.contains(k)) << k;
  EXPECT_EQ(keys(chat["usage"]), keys(gen["usage"]));
  EXPECT_EQ(keys(chat["timings"]), keys(gen["timings"]));
  EXPECT_EQ(keys(gen["usage"]),
            (std::set<std::string>{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details"}));
  EXPECT_EQ(keys(gen["timings"]), (std::set<std::string>{"prefill_ms", "decode_ms", "decode_tokens_per_s"}));
  EXPECT_EQ(chat["message"], Json({{"role", "assistant"}, {"content", chat["text"]}}));
  EXPECT_EQ(chat["model"], kModels + "qwen2");
  EXPECT_EQ(chat["device"], "cpu");
  EXPECT_EQ(chat["dtype"], gen["dtype"]);
  EXPECT_EQ(gen["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  EXPECT_TRUE(gen["timings"]["decode_tokens_per_s"].is_number());
  EXPECT_TRUE(chat["timings"]["decode_tokens_per_s"].is_number());

  // The interactive chat prints the same object per reply.
  auto interactive =
      run_cli({"chat", "--model", kModels + "qwen2", "-n", "3", "--temperature", "0", "--json"}, "Hello\n");
  ASSERT_EQ(interactive.status, 0) << interactive.err;
  EXPECT_EQ(keys(Json::parse(interactive.out)), keys(chat));
}

TEST(CliOutputShape, ARateWithoutADecodeStepIsNull) {
  // One generated token comes from the prefill step: no decode rate, null (not 0) in both.
  EXPECT_TRUE(generate_json("1")["timings"]["decode_tokens_per_s"].is_null());
  EXPECT_TRUE(chat_json("1")["timings"]["decode_tokens_per_s"].is_null());
}

// Each command's JSON: one line by default; with --pretty (before or after the command) the
// same object over several indented lines.
TEST(CliOutputShape, CompactByDefaultIndentedWithPretty) {
  TempDir dir;
  write_file(dir.path() + "/m.json", R"([{"role": "user", "content": "Hello"}])");
  write_file(dir.path() + "/f.txt", "some bytes");
  const std::vector<std::vector<std::string>> commands = {
      {"generate", "--model", kModels + "qwen2", "--prompt", "Hello", "-n", "3", "--json", "--quiet"},
      {"chat", "--model", kModels + "qwen2", "--messages", dir.path() + "/m.json", "-n", "3", "--json", "--quiet"},
      {"embed", "--model", kModels + "bert", "hello world"},
      {"tokenize", "--model", kModels + "bert", "hello world"},
      {"detokenize", "--model", kModels + "bert", "101"},
      {"inspect", "--model", kModels + "bert"},
      {"hardware"},
      {"ipfs", "add", "--only-hash", "--json", dir.path() + "/f.txt"},
  };
  for (const auto& args : commands) {
    const std::string name = args[0] == "ipfs" ? "ipfs add" : args[0];
    auto compact = run_cli(args);
    ASSERT_EQ(compact.status, 0) << name << ": " << compact.err;
    ASSERT_EQ(lines(compact.out).size(), 1u) << name << ": " << compact.out;
    const Json c = Json::parse(compact.out);

    std::vector<std::string> pretty_args = args;
    pretty_args.push_back("--pretty");
    auto pretty = run_cli(pretty_args);
    ASSERT_EQ(pretty.status, 0) << name << ": " << pretty.err;
    const std::vector<std::string> pl = lines(pretty.out);
    ASSERT_GT(pl.size(), 2u) << name << ": " << pretty.out;
    EXPECT_EQ(pl[1].rfind("  \"", 0), 0u) << name << ": two-space indent: " << pl[1];
    const Json p = Json::parse(pretty.out);
    EXPECT_EQ(keys(p), keys(c)) << name;
    // What does not depend on the clock is the same value.
    for (const std::string k : {"text", "ids", "tokens", "embeddings", "model_type", "Hash", "cpu"})
      if (c.contains(k)) {
        EXPECT_EQ(p[k], c[k]) << name << " " << k;
      }
  }
  // --pretty before the command too.
  auto before = run_cli({"--pretty", "tokenize", "--model", kModels + "bert", "hello"});
  ASSERT_EQ(before.status, 0) << before.err;
  EXPECT_GT(lines(before.out).size(), 2u) << before.out;
}

TEST(CliOutputShape, StreamedJsonIsOneDeltaObjectPerLineThenTheResult) {
  auto r = run_cli({"generate", "--model", kModels + "qwen2", "--prompt", "Hello", "-n", "5", "--temperature", "0",
                    "--json", "--stream", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<std::string> ls = lines(r.out);
  ASSERT_GE(ls.size(), 2u) << r.out;
  std::string text;
  for (size_t i = 0; i + 1 < ls.size(); ++i) {
    const Json d = Json::parse(ls[i]);
    EXPECT_EQ(keys(d), std::set<std::string>{"delta"}) << ls[i];
    text += d["delta"].get<std::string>();
  }
  const Json result = Json::parse(ls.back());
  EXPECT_EQ(result["text"], text);
  EXPECT_EQ(keys(result), keys(generate_json("5")));
}

}  // namespace
}  // namespace ia::test
