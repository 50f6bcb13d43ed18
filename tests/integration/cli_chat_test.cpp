// `chat` end to end: --messages runs one turn through the chat template (the
// prompt tokenized without extra special tokens, as apply_chat_template does),
// and the interactive mode keeps the conversation across stdin lines, reusing
// the KV cache of earlier turns with the same replies as a fresh prefill. The
// interactive commands (/set, /clear, /save, /load, """ blocks), dropping the
// oldest turns when the context fills, and bad input refused before any prompt
// run on a stdin pipe; Ctrl-C and line editing on a pseudo-terminal.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

#include "integration/cli_runner.h"
#include "integration/pty_session.h"

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
  const std::string input = "Hello!\nWhat is two plus two?\nAnd three times three?\n/clear\nHello!\n";
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
  // After /clear the system message's tokens are still shared with the first conversation:
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

TEST(CliChatErrors, BadModelOrOptionIsExitTwoBeforeAnyPrompt) {
  // Each is refused with one line before a prompt is read: the input is never answered.
  const std::string hello = "Hello!\n";
  expect_user_error(run_cli({"chat", "--model", "typo"}, hello), "typo: model folder does not exist");
  expect_user_error(run_cli({"chat", "--model", kFixtures + "gpt2"}, hello), "no chat template; use `generate`");
  expect_user_error(run_cli({"chat", "--model", kFixtures + "qwen2", "--temperature", "-1"}, hello), "temperature");
  expect_user_error(run_cli({"chat", "--model", kFixtures + "qwen2", "--top-p", "2"}, hello), "top_p");
  expect_user_error(run_cli({"chat", "--model", kFixtures + "qwen2", "--max-new-tokens", "0"}, hello),
                    "max_new_tokens");
  expect_user_error(run_cli({"chat", "--model", kFixtures + "qwen2", "--dtype", "f8"}, hello), "f8");
  expect_user_error(run_cli({"chat", "--model", kFixtures + "qwen2", "--template", "nope"}, hello),
                    "no chat template named 'nope'");
  expect_user_error(run_cli({"chat", "--model", kFixtures + "qwen2", "--tools", "/nonexistent.json"}, hello),
                    "--tools");
  TempDir dir;
  write_file(dir.path() + "/tools.json", R"({"not": "a list"})");
  expect_user_error(run_cli({"chat", "--model", kFixtures + "qwen2", "--tools", dir.path() + "/tools.json"}, hello),
                    "tools must be a JSON list");
  write_file(dir.path() + "/vars.json", "{not json");
  expect_user_error(run_cli({"chat", "--model", kFixtures + "qwen2", "--vars", dir.path() + "/vars.json"}, hello),
                    "not valid JSON");
}

TEST(CliChatErrors, BadMessagesAreExitTwo) {
  TempDir dir;
  write_file(dir.path() + "/bad.json", "{not json");
  auto r = run_cli({"chat", "--model", kFixtures + "qwen2", "--messages", dir.path() + "/bad.json"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
  r = run_cli({"chat", "--model", kFixtures + "qwen2", "--messages", dir.path() + "/missing.json"});
  EXPECT_EQ(r.status, 2) << r.err;
}

// --- interactive commands, on a stdin pipe ---

Json read_json_file(const std::string& path) {
  return Json::parse(read_file(path));
}

TEST(CliChatCommands, SetClearHelpAndUnknownCommands) {
  const std::string model = kFixtures + "qwen2";
  const std::string input =
      "/help\n/set temperature 0\n/set top_k x\n/set top_p 2\n/set max_tokens 3\n/set\n/foo\n"
      "Hello!\n/clear\nHello!\n/bye\nNever answered\n";
  auto r = run_cli({"chat", "--model", model, "--system", "Be brief.", "--json", "-n", "6"}, input);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<Json> turns = json_lines(r.out);
  ASSERT_EQ(turns.size(), 2u) << r.out;  // /bye ends the session before the last line
  for (const Json& t : turns) {
    EXPECT_EQ(t["usage"]["completion_tokens"], 3) << "/set max_tokens 3 replaces -n 6";
    EXPECT_EQ(t["finish_reason"], "length");
  }
  // /clear forgets the first exchange but keeps the system message: the same prompt again.
  EXPECT_EQ(turns[1]["prompt_ids"], turns[0]["prompt_ids"]);
  EXPECT_EQ(turns[1]["text"], turns[0]["text"]);
  EXPECT_NE(r.err.find("/set PARAM VALUE"), std::string::npos) << r.err;         // /help
  EXPECT_NE(r.err.find("\"x\" is not a number"), std::string::npos) << r.err;    // refused, kept
  EXPECT_NE(r.err.find("top_p must be in (0, 1]"), std::string::npos) << r.err;  // checked like the flag
  EXPECT_NE(r.err.find("temperature 0\n"), std::string::npos) << r.err;          // /set lists the settings
  EXPECT_NE(r.err.find("unknown command /foo"), std::string::npos) << r.err;
}

TEST(CliChatCommands, TripleQuotesMakeOneMessageOfSeveralLines) {
  TempDir dir;
  const std::string saved = dir.path() + "/c.json";
  const std::string input =
      "\"\"\"\nline one\n\nline three\n\"\"\"\n\"\"\"/not a command\"\"\"\n\"\"\"first\nlast\"\"\"\n/save " + saved +
      "\n";
  auto r = run_cli({"chat", "--model", kFixtures + "qwen2", "-n", "2", "--temperature", "0"}, input);
  ASSERT_EQ(r.status, 0) << r.err;
  const Json conv = read_json_file(saved);
  ASSERT_EQ(conv.size(), 6u) << conv.dump();
  EXPECT_EQ(conv[0]["content"], "line one\n\nline three");
  EXPECT_EQ(conv[2]["content"], "/not a command");
  EXPECT_EQ(conv[4]["content"], "first\nlast");
  for (size_t i : {0, 2, 4}) EXPECT_EQ(conv[i]["role"], "user");
  for (size_t i : {1, 3, 5}) EXPECT_EQ(conv[i]["role"], "assistant");
}

TEST(CliChatCommands, SaveThenLoadContinuesTheConversation) {
  const std::string model = kFixtures + "llama";
  TempDir dir;
  const std::string saved = dir.path() + "/conversation.json";
  auto first = run_cli(with({"chat", "--model", model, "--system", "Be brief.", "--json"}, kGreedy),
                       "Hello!\n/save " + saved + "\n");
  ASSERT_EQ(first.status, 0) << first.err;
  const Json conv = read_json_file(saved);
  ASSERT_EQ(conv.size(), 3u) << conv.dump();
  EXPECT_EQ(conv[0], Json({{"role", "system"}, {"content", "Be brief."}}));
  EXPECT_EQ(conv[1], Json({{"role", "user"}, {"content", "Hello!"}}));
  EXPECT_EQ(conv[2]["role"], "assistant");
  EXPECT_EQ(conv[2]["content"], json_lines(first.out).at(0)["text"]);
  // Written under a temporary name, then renamed: only the file itself is left.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);

  // A new session loads it (its system message with it) and goes on as if it had never stopped.
  auto second =
      run_cli(with({"chat", "--model", model, "--json"}, kGreedy), "/load " + saved + "\nWhat is two plus two?\n");
  ASSERT_EQ(second.status, 0) << second.err;
  const std::vector<Json> turns = json_lines(second.out);
  ASSERT_EQ(turns.size(), 1u) << second.out;
  Json expected_conv = conv;
  expected_conv.push_back({{"role", "user"}, {"content", "What is two plus two?"}});
  const Json expected = chat_once(model, expected_conv);
  EXPECT_EQ(turns[0]["prompt_ids"], expected["prompt_ids"]);
  EXPECT_EQ(turns[0]["text"], expected["text"]);

  // A file that is not a conversation is refused; the session goes on.
  write_file(dir.path() + "/bad.json", R"({"role": "user"})");
  auto bad = run_cli(with({"chat", "--model", model}, kGreedy), "/load " + dir.path() + "/bad.json\n/load\n");
  EXPECT_EQ(bad.status, 0) << bad.err;
  EXPECT_NE(bad.err.find("expected a JSON list of messages"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("/load needs a FILE"), std::string::npos) << bad.err;
}

TEST(CliChatCommands, AFullContextDropsTheOldestTurnsButKeepsTheSystemMessage) {
  // The qwen2 fixture has a 256-token context; each reply asks for 100 tokens.
  TempDir dir;
  const std::string saved = dir.path() + "/c.json";
  const std::vector<std::string> messages = {"one two three four five six seven", "second message here",
                                             "third message", "fourth"};
  std::string input;
  for (const auto& m : messages) input += m + "\n";
  input += "/save " + saved + "\n";
  auto r = run_cli(
      {"chat", "--model", kFixtures + "qwen2", "--system", "Be brief.", "--json", "-n", "100", "--temperature", "0"},
      input);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<Json> turns = json_lines(r.out);
  ASSERT_EQ(turns.size(), messages.size()) << r.out << r.err;
  for (const Json& t : turns) {
    EXPECT_LE(t["usage"]["prompt_tokens"].get<int>() + 100, 256) << "every prompt leaves room for the reply";
    EXPECT_EQ(t["usage"]["completion_tokens"], 100);
  }
  EXPECT_NE(r.err.find("do not fit the context of 256 tokens; dropped the "), std::string::npos) << r.err;
  const Json conv = read_json_file(saved);
  ASSERT_GE(conv.size(), 3u);
  EXPECT_LT(conv.size(), 1 + 2 * messages.size()) << "older turns were dropped";
  EXPECT_EQ(conv[0], Json({{"role", "system"}, {"content", "Be brief."}}));
  EXPECT_EQ(conv[1]["role"], "user");
  EXPECT_EQ(conv[conv.size() - 2]["content"], messages.back());
}

// --- at a terminal ---

// The llama fixture with a context of 65536 and no end-of-sequence token: a reply of
// 60000 tokens takes long enough that a Ctrl-C always lands in it.
std::string endless_model(const TempDir& dir) {
  const std::string path = dir.path() + "/endless";
  copy_model("llama", path);
  Json config = read_json_file(path + "/config.json");
  config["max_position_embeddings"] = 65536;
  write_file(path + "/config.json", config.dump());
  Json gen = read_json_file(path + "/generation_config.json");
  gen["eos_token_id"] = Json::array();
  write_file(path + "/generation_config.json", gen.dump());
  return path;
}

TEST(CliChatTerminal, CtrlCStopsTheReplyAndASecondOneQuits) {
  TempDir dir;
  const std::string saved = dir.path() + "/c.json";
  PtySession chat({"chat", "--model", endless_model(dir), "-n", "60000", "--temperature", "0", "--json"});
  ASSERT_TRUE(chat.expect(">>> ")) << chat.output();
  chat.type("Hello!\r");
  ASSERT_TRUE(chat.expect("Hello!\r\n")) << chat.output();  // the line was taken: the reply runs
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto t0 = std::chrono::steady_clock::now();
  chat.type("\x03");
  ASSERT_TRUE(chat.expect("\"finish_reason\":\"cancelled\"", 20)) << chat.output();
  ASSERT_TRUE(chat.expect(">>> ")) << chat.output();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
  // The stopped reply joined the conversation as far as it went.
  chat.type("/save " + saved + "\r");
  ASSERT_TRUE(chat.expect("saved 2 messages")) << chat.output();
  ASSERT_TRUE(chat.expect(">>> ")) << chat.output();
  const Json conv = read_json_file(saved);
  ASSERT_EQ(conv.size(), 2u);
  EXPECT_EQ(conv[1]["role"], "assistant");
  // Ctrl-C at the empty prompt: a hint; a second one quits.
  chat.type("\x03");
  ASSERT_TRUE(chat.expect("Ctrl-C again")) << chat.output();
  chat.type("\x03");
  EXPECT_EQ(chat.wait(), 0) << chat.output();
}

TEST(CliChatTerminal, ARepliedCtrlCThenOneMoreAtThePromptQuits) {
  TempDir dir;
  PtySession chat({"chat", "--model", endless_model(dir), "-n", "60000", "--temperature", "0"});
  ASSERT_TRUE(chat.expect(">>> ")) << chat.output();
  chat.type("Hello!\r");
  ASSERT_TRUE(chat.expect("Hello!\r\n")) << chat.output();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  chat.type("\x03");
  ASSERT_TRUE(chat.expect(">>> ", 20)) << chat.output();
  chat.type("\x03");  // the second Ctrl-C in a row
  EXPECT_EQ(chat.wait(), 0) << chat.output();
}

TEST(CliChatTerminal, LineEditingHistoryAndCtrlCDropsTheLine) {
  TempDir dir;
  const std::string saved = dir.path() + "/c.json";
  // --json: a reply is one line ending in "}", so the prompt after it is told from a redrawn one.
  PtySession chat({"chat", "--model", kFixtures + "qwen2", "-n", "2", "--temperature", "0", "--json"});
  ASSERT_TRUE(chat.expect(">>> ")) << chat.output();
  chat.type("helo\x1b[Dl\r");  // left arrow, insert the missing letter
  ASSERT_TRUE(chat.expect("}\r\n>>> ")) << chat.output();
  chat.type("\x1b[A\r");  // up arrow: the same line again
  ASSERT_TRUE(chat.expect("}\r\n>>> ")) << chat.output();
  chat.type("never sent");
  ASSERT_TRUE(chat.expect("never sent")) << chat.output();
  chat.type("\x03");  // drops the line typed so far, does not quit
  ASSERT_TRUE(chat.expect(">>> ")) << chat.output();
  chat.type("/save " + saved + "\r");
  ASSERT_TRUE(chat.expect("saved 4 messages")) << chat.output();
  ASSERT_TRUE(chat.expect(">>> ")) << chat.output();
  chat.type("/bye\r");
  EXPECT_EQ(chat.wait(), 0) << chat.output();
  const Json conv = read_json_file(saved);
  ASSERT_EQ(conv.size(), 4u) << conv.dump();
  EXPECT_EQ(conv[0]["content"], "hello");
  EXPECT_EQ(conv[2]["content"], "hello");
}

}  // namespace
}  // namespace ia::test
