// `chat` end to end: --messages runs one turn through the chat template (the
// prompt tokenized without extra special tokens, as apply_chat_template does),
// and the interactive mode keeps the conversation across stdin lines, reusing
// the KV cache of earlier turns with the same replies as a fresh prefill.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

using Json = nlohmann::json;

const std::string kFixtures = std::string(IA_FIXTURES_DIR) + "/models/";
const std::vector<std::string> kGreedy = {"--max-new-tokens", "6", "--temperature", "0"};

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// One --messages turn, as JSON.
Json chat_once(const std::string& model, const Json& messages) {
  TempDir dir;
  write_file(dir.path() + "/m.json", messages.dump());
  auto r = run_cli(with({"chat", "--model", model, "--messages", dir.path() + "/m.json", "--json"}, kGreedy));
  EXPECT_EQ(r.status, 0) << r.err;
  return Json::parse(r.out);
}

class CliChat : public ::testing::TestWithParam<std::string> {};

TEST_P(CliChat, MessagesTurnUsesTheTemplateWithoutExtraSpecialTokens) {
  const std::string model = kFixtures + GetParam();
  const Json messages = Json::array({{{"role", "user"}, {"content", "Hello!"}}});
  TempDir dir;
  write_file(dir.path() + "/m.json", messages.dump());
  auto rendered =
      run_cli({"chat-template", "--model", model, "--messages", dir.path() + "/m.json", "--add-generation-prompt"});
  ASSERT_EQ(rendered.status, 0) << rendered.err;
  auto tok = run_cli({"tokenize", "--model", model, "--no-special-tokens", rendered.out});  // printed as rendered
  ASSERT_EQ(tok.status, 0) << tok.err;
  const Json ids = Json::parse(tok.out)["ids"];

  const Json turn = chat_once(model, messages);
  EXPECT_EQ(turn["message"]["role"], "assistant");
  EXPECT_EQ(turn["message"]["content"], turn["text"]);
  EXPECT_EQ(turn["finish_reason"], "length");
  EXPECT_EQ(turn["usage"]["completion_tokens"], 6);
  EXPECT_EQ(turn["usage"]["prompt_tokens"], ids.size()) << "the template's own BOS must not be doubled";
  EXPECT_EQ(turn["prompt_ids"], ids);
}

TEST_P(CliChat, InteractiveKeepsTheConversation) {
  const std::string model = kFixtures + GetParam();
  auto r = run_cli(with({"chat", "--model", model, "--system", "Be brief.", "--json"}, kGreedy),
                   "Hello!\nWhat is two plus two?\n");
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<Json> turns;
  size_t pos = 0;
  while (pos < r.out.size()) {
    const size_t nl = r.out.find('\n', pos);
    turns.push_back(Json::parse(r.out.substr(pos, nl - pos)));
    pos = nl == std::string::npos ? r.out.size() : nl + 1;
  }
  ASSERT_EQ(turns.size(), 2u) << r.out;

  // Each turn equals a --messages run over the conversation so far.
  Json conv = Json::array({{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hello!"}}});
  const Json first = chat_once(model, conv);
  EXPECT_EQ(turns[0]["text"], first["text"]);
  EXPECT_EQ(turns[0]["prompt_ids"], first["prompt_ids"]);
  conv.push_back({{"role", "assistant"}, {"content", first["text"]}});
  conv.push_back({{"role", "user"}, {"content", "What is two plus two?"}});
  const Json second = chat_once(model, conv);
  EXPECT_EQ(turns[1]["text"], second["text"]);
  EXPECT_EQ(turns[1]["prompt_ids"], second["prompt_ids"]);
  EXPECT_GT(turns[1]["usage"]["prompt_tokens"].get<int>(), turns[0]["usage"]["prompt_tokens"].get<int>() + 6);

  // Plain (streaming) mode prints the same replies, one after the other.
  auto plain =
      run_cli(with({"chat", "--model", model, "--system", "Be brief."}, kGreedy), "Hello!\nWhat is two plus two?\n");
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_EQ(plain.out, first["text"].get<std::string>() + "\n" + second["text"].get<std::string>() + "\n");
}

std::vector<Json> json_lines(const std::string& out) {
  std::vector<Json> lines;
  size_t pos = 0;
  while (pos < out.size()) {
    const size_t nl = out.find('\n', pos);
    lines.push_back(Json::parse(out.substr(pos, nl - pos)));
    pos = nl == std::string::npos ? out.size() : nl + 1;
  }
  return lines;
}

TEST_P(CliChat, LaterTurnsReuseTheKvCache) {
  const std::string model = kFixtures + GetParam();
  const std::string input = "Hello!\nWhat is two plus two?\nAnd three times three?\n/reset\nHello!\n";
  auto r = run_cli(with({"-v", "chat", "--model", model, "--system", "Be brief.", "--json"}, kGreedy), input);
  ASSERT_EQ(r.status, 0) << r.err;
  auto fresh =
      run_cli(with({"chat", "--model", model, "--system", "Be brief.", "--json", "--no-prefix-cache"}, kGreedy), input);
  ASSERT_EQ(fresh.status, 0) << fresh.err;
  const std::vector<Json> turns = json_lines(r.out), fresh_turns = json_lines(fresh.out);
  ASSERT_EQ(turns.size(), 4u) << r.out;
  ASSERT_EQ(fresh_turns.size(), 4u) << fresh.out;
  auto cached = [](const Json& t) { return t["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(); };
  auto prompt = [](const Json& t) { return t["usage"]["prompt_tokens"].get<int>(); };
  for (size_t i = 0; i < turns.size(); ++i) {
    EXPECT_EQ(turns[i]["text"], fresh_turns[i]["text"]) << i;
    EXPECT_EQ(turns[i]["prompt_ids"], fresh_turns[i]["prompt_ids"]) << i;
    EXPECT_EQ(cached(fresh_turns[i]), 0) << i;
  }
  EXPECT_EQ(cached(turns[0]), 0);
  for (size_t i = 1; i < 3; ++i) {
    // The earlier turns come from the cache: at least the previous prompt is not prefilled again.
    EXPECT_GE(cached(turns[i]), prompt(turns[i - 1])) << i;
    EXPECT_LT(cached(turns[i]), prompt(turns[i])) << i;
  }
  // After /reset the system message's tokens are still shared with the first conversation:
  // the same first turn again recomputes only its last token.
  EXPECT_EQ(turns[3]["text"], turns[0]["text"]);
  EXPECT_EQ(cached(turns[3]), prompt(turns[0]) - 1);

  // -v reports the reuse on stderr, one line per turn.
  size_t reports = 0;
  for (const auto& line : r.err_lines())
    if (line.rfind("chat: ", 0) == 0 && line.find(" cached, prefilled ") != std::string::npos) ++reports;
  EXPECT_EQ(reports, 4u) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CliChat, ::testing::Values("llama", "qwen2"));

TEST(CliChatErrors, BadMessagesAreExitTwo) {
  TempDir dir;
  write_file(dir.path() + "/bad.json", "{not json");
  auto r = run_cli({"chat", "--model", kFixtures + "qwen2", "--messages", dir.path() + "/bad.json"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
  r = run_cli({"chat", "--model", kFixtures + "qwen2", "--messages", dir.path() + "/missing.json"});
  EXPECT_EQ(r.status, 2) << r.err;
}

}  // namespace
}  // namespace ia::test
