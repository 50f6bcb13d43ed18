// `chat-template` end to end: the raw prompt on stdout exactly as the model
// fixtures' transformers renderings, and exit status 2 with one line for
// every bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";

TEST(CliChatTemplate, EveryFixtureCaseExactly) {
  TempDir tmp;
  for (const std::string family : {"llama", "qwen2"}) {
    auto cases = nlohmann::json::parse(read_file(kModels + family + "/chat_template_cases.json"));
    for (const auto& c : cases["cases"]) {
      const std::string path = tmp.path() + "/messages.json";
      write_file(path, c["messages"].dump());
      std::vector<std::string> args = {"chat-template", "--model", kModels + family, "--messages", path};
      if (c["add_generation_prompt"].get<bool>()) args.push_back("--add-generation-prompt");
      CliResult r = run_cli(args);
      ASSERT_EQ(r.status, 0) << r.err;
      EXPECT_EQ(r.out, c["rendered"].get<std::string>()) << family << " " << c.dump();
    }
  }
}

TEST(CliChatTemplate, MessagesFromStdinAndRequestBody) {
  CliResult r = run_cli({"chat-template", "--model", kModels + "qwen2", "--messages", "-", "--add-generation-prompt"},
                        R"({"messages": [{"role": "user", "content": "Hi"}]})");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(CliChatTemplate, ToolsAndNamedTemplate) {
  TempDir tmp;
  copy_model("qwen2", tmp.path() + "/m");
  auto cfg = nlohmann::ordered_json::parse(read_file(tmp.path() + "/m/tokenizer_config.json"));
  cfg["chat_template"] = nlohmann::ordered_json::array(
      {{{"name", "default"}, {"template", "plain:{{ messages|length }}"}},
       {{"name", "tool_use"},
        {"template", "{% for t in tools %}{{ t|tojson }}{% endfor %}|{{ messages[0].content }}"}}});
  write_file(tmp.path() + "/m/tokenizer_config.json", cfg.dump());
  write_file(tmp.path() + "/msgs.json", R"([{"role": "user", "content": "weather?"}])");
  write_file(tmp.path() + "/tools.json", R"([{"name": "get_weather", "parameters": {"type": "object"}}])");
  CliResult r = run_cli({"chat-template", "--model", tmp.path() + "/m", "--messages", tmp.path() + "/msgs.json",
                         "--tools", tmp.path() + "/tools.json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, R"({"name": "get_weather", "parameters": {"type": "object"}}|weather?)");
  r = run_cli({"chat-template", "--model", tmp.path() + "/m", "--messages", tmp.path() + "/msgs.json", "--template",
               "default"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "plain:1");
  expect_user_error(run_cli({"chat-template", "--model", tmp.path() + "/m", "--messages", tmp.path() + "/msgs.json",
                             "--template", "nope"}),
                    "no chat template named 'nope'");
}

TEST(CliChatTemplate, BadInputIsExitTwoWithOneLine) {
  TempDir tmp;
  const std::string good = tmp.path() + "/good.json";
  write_file(good, R"([{"role": "user", "content": "x"}])");
  const std::string bad = tmp.path() + "/bad.json";
  write_file(bad, "[{\"role\": ");
  expect_user_error(run_cli({"chat-template", "--model", kModels + "qwen2", "--messages", tmp.path() + "/none.json"}),
                    "cannot be read");
  expect_user_error(run_cli({"chat-template", "--model", kModels + "qwen2", "--messages", bad}), "not valid JSON");
  write_file(bad, R"({"role": "user"})");
  expect_user_error(run_cli({"chat-template", "--model", kModels + "qwen2", "--messages", bad}), "JSON list");
  expect_user_error(run_cli({"chat-template", "--model", tmp.path() + "/nope", "--messages", good}), "does not exist");
  expect_user_error(run_cli({"chat-template", "--model", kModels + "bert", "--messages", good}), "no chat template");
  expect_user_error(run_cli({"chat-template", "--model", kModels + "qwen2", "--messages", good, "--tools", bad}),
                    "tools must be a JSON list");
  // A template error: raise_exception and a syntax error name what went wrong.
  copy_model("qwen2", tmp.path() + "/m");
  auto cfg = nlohmann::ordered_json::parse(read_file(tmp.path() + "/m/tokenizer_config.json"));
  cfg["chat_template"] =
      "{% if messages[0].role != 'system' %}{{ raise_exception('need a system\nmessage') }}{% endif %}";
  write_file(tmp.path() + "/m/tokenizer_config.json", cfg.dump());
  expect_user_error(run_cli({"chat-template", "--model", tmp.path() + "/m", "--messages", good}),
                    "chat template raised: need a system message");
  cfg["chat_template"] = "line 1\n{% for m in messages %}";
  write_file(tmp.path() + "/m/tokenizer_config.json", cfg.dump());
  expect_user_error(run_cli({"chat-template", "--model", tmp.path() + "/m", "--messages", good}), "at line 2");
  expect_user_error(run_cli({"chat-template", "--messages", good}), "--model");
}

}  // namespace
}  // namespace ia::test
