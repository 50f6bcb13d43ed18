// `tokenize --input FILE.jsonl`: one JSON result per input line, in order,
// identical to the one-text form; bad lines are exit status 2 naming the line.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {
namespace {

const std::string kGpt2 = std::string(IA_FIXTURES_DIR) + "/models/gpt2";
const std::string kBert = std::string(IA_FIXTURES_DIR) + "/models/bert";

std::vector<nlohmann::json> lines_of(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) v.push_back(nlohmann::json::parse(line));
  return v;
}

TEST(CliTokenize, BatchMatchesSingleCallsInOrder) {
  TempDir dir;
  const std::string path = dir.path() + "/in.jsonl";
  write_file(path,
             "\"Hello world\"\n"
             "{\"text\": \"first\", \"pair\": \"second\"}\n"
             "\n"
             "{\"text\": \"caf\\u00e9 \\ud83d\\ude00\"}\n"
             "\"\"\n");
  const auto r = run_cli({"tokenize", "--model", kBert, "--input", path});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto got = lines_of(r.out);
  ASSERT_EQ(got.size(), 4u);  // the blank line is skipped
  auto single = [&](std::vector<std::string> args) {
    std::vector<std::string> all = {"tokenize", "--model", kBert};
    all.insert(all.end(), args.begin(), args.end());
    const auto s = run_cli(all);
    EXPECT_EQ(s.status, 0) << s.err;
    return nlohmann::json::parse(s.out);
  };
  EXPECT_EQ(got[0], single({"Hello world"}));
  EXPECT_EQ(got[1], single({"--pair", "second", "first"}));
  EXPECT_EQ(got[2], single({"caf\xC3\xA9 \xF0\x9F\x98\x80"}));
  EXPECT_EQ(got[3], single({""}));
  EXPECT_EQ(got[1]["type_ids"].back(), 1);
}

TEST(CliTokenize, BatchWithoutSpecialTokens) {
  TempDir dir;
  const std::string path = dir.path() + "/in.jsonl";
  write_file(path, "\"Hello world\"\r\n\"again\"\n");
  const auto r = run_cli({"tokenize", "--model", kGpt2, "--no-special-tokens", "--input", path});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto got = lines_of(r.out);
  ASSERT_EQ(got.size(), 2u);
  const auto one = nlohmann::json::parse(run_cli({"tokenize", "--model", kGpt2, "--no-special-tokens", "again"}).out);
  EXPECT_EQ(got[1], one);
}

TEST(CliTokenize, BadLinesAreClearErrors) {
  TempDir dir;
  const std::string path = dir.path() + "/bad.jsonl";
  write_file(path, "\"ok\"\n{\"text\": \"fine\"}\n{not json\n");
  expect_user_error(run_cli({"tokenize", "--model", kBert, "--input", path}), "bad.jsonl:3");
  write_file(path, "\"ok\"\n42\n");
  expect_user_error(run_cli({"tokenize", "--model", kBert, "--input", path}), ":2: expected a JSON string");
  write_file(path, "{\"text\": \"a\", \"pair\": 7}\n");
  expect_user_error(run_cli({"tokenize", "--model", kBert, "--input", path}), ":1: \"pair\" must be a string");
  expect_user_error(run_cli({"tokenize", "--model", kBert, "--input", dir.path() + "/missing.jsonl"}), "missing.jsonl");
  expect_user_error(run_cli({"tokenize", "--model", kBert}), "--input");
}

TEST(CliTokenize, EmptyFileGivesNoOutput) {
  TempDir dir;
  const std::string path = dir.path() + "/empty.jsonl";
  write_file(path, "");
  const auto r = run_cli({"tokenize", "--model", kBert, "--input", path});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.empty());
}

}  // namespace
}  // namespace ia::test
