// tokenizer.json and chat templates are untrusted: deep or oversized content
// is Corrupt, and tokenizing stays linear in the input.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "tok_test_util.h"
#include "tokenizers/chat_template/chat_template.h"
#include "tokenizers/tokenizer.h"

namespace ia::tok {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void expect_corrupt(const std::string& json, const std::string& needle) {
  try {
    Tokenizer::from_json_string(json);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

const char* kWordLevel = R"("model": {"type": "WordLevel", "vocab": {"a": 0, "[UNK]": 1}, "unk_token": "[UNK]"})";

// {"type": "Sequence", KEY: [ ... depth times ... {"type": LEAF} ]}
std::string nested_sequence(const std::string& key, const std::string& leaf, size_t depth) {
  std::string s;
  for (size_t i = 0; i < depth; ++i) s += R"({"type": "Sequence", ")" + key + R"(": [)";
  s += R"({"type": ")" + leaf + R"("})";
  for (size_t i = 0; i < depth; ++i) s += "]}";
  return s;
}

TEST(UntrustedTokenizer, DeepJsonIsCorrupt) {
  expect_corrupt(
      "{" + std::string(kWordLevel) + ", \"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}",
      "nested deeper");
}

TEST(UntrustedTokenizer, DeepSequencesAreCorrupt) {
  // 100,000 levels are refused by the JSON depth limit; 40 (within it) by the Sequence limit.
  for (size_t depth : {size_t{40}, size_t{100000}}) {
    expect_corrupt("{\"normalizer\": " + nested_sequence("normalizers", "Lowercase", depth) + ", " + kWordLevel + "}",
                   "nested deeper");
    expect_corrupt(
        "{\"pre_tokenizer\": " + nested_sequence("pretokenizers", "Whitespace", depth) + ", " + kWordLevel + "}",
        "nested deeper");
    expect_corrupt("{\"decoder\": " + nested_sequence("decoders", "Fuse", depth) + ", " + kWordLevel + "}",
                   "nested deeper");
  }
  // A shallow Sequence still loads.
  EXPECT_NO_THROW(Tokenizer::from_json_string("{\"normalizer\": " + nested_sequence("normalizers", "Lowercase", 3) +
                                              ", " + kWordLevel + "}"));
}

TEST(UntrustedTokenizer, LlamaReplaceNormalizerIsLinear) {
  // Was 67 s for 512 KB (one rewrite of the tail per replaced space).
  auto tok = Tokenizer::from_folder(test::fixture_dir("llama"));
  std::string text;
  while (text.size() < 512 * 1024) text += "The quick brown fox jumps over the lazy dog. ";
  const auto t0 = std::chrono::steady_clock::now();
  const Encoding e = tok->encode(text, false);
  EXPECT_LT(seconds_since(t0), 5.0);
  ASSERT_FALSE(e.ids.empty());
  // Offsets still map into the original text: the last token ends at its end.
  EXPECT_EQ(e.offsets.back().second, text.size());
  const std::vector<int32_t> head = tok->encode("The quick brown", false).ids;
  ASSERT_LT(head.size(), e.ids.size());
  EXPECT_EQ(head, std::vector<int32_t>(e.ids.begin(), e.ids.begin() + static_cast<std::ptrdiff_t>(head.size())));
}

TEST(UntrustedTokenizer, DoublingReplaceChainIsCorrupt) {
  std::string chain = R"({"type": "Sequence", "normalizers": [)";
  for (int i = 0; i < 30; ++i)
    chain += std::string(i ? "," : "") + R"({"type": "Replace", "pattern": {"String": "a"}, "content": "aa"})";
  chain += "]}";
  auto tok = Tokenizer::from_json_string("{\"normalizer\": " + chain + ", " + kWordLevel + "}");
  const auto t0 = std::chrono::steady_clock::now();
  try {
    tok->encode(std::string(1000, 'a'));
    ADD_FAILURE() << "a 2^30 growth was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
    EXPECT_NE(std::string(e.what()).find("times its size"), std::string::npos) << e.what();
  }
  EXPECT_LT(seconds_since(t0), 5.0);
}

TEST(UntrustedTokenizer, CatastrophicRegexGivesUp) {
  auto tok = Tokenizer::from_json_string(
      R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "^(a|a)*$"}, "behavior": "Isolated", "invert": false}, )" +
      std::string(kWordLevel) + "}");
  const auto t0 = std::chrono::steady_clock::now();
  try {
    tok->encode(std::string(5000, 'a') + "b");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
    EXPECT_NE(std::string(e.what()).find("^(a|a)*$"), std::string::npos) << e.what();
  }
  EXPECT_LT(seconds_since(t0), 10.0);
}

TEST(UntrustedChatTemplate, HugeDictLiteralIsBoundedAndOversizedTemplateRefused) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("ia-untrusted-ct-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // 50,000 distinct keys (within the size limit) render quickly: keys are hashed.
  std::string dict = "{%- set d = {";
  for (int i = 0; i < 50000; ++i) dict += (i ? ",'k" : "'k") + std::to_string(i) + "':1";
  dict += "} -%}{{ d | length }}";
  test::write_file(dir / "chat_template.jinja", dict);
  const auto t0 = std::chrono::steady_clock::now();
  ChatTemplate ct = ChatTemplate::from_tokenizer_config(dir.string());
  EXPECT_EQ(ct.render(nlohmann::ordered_json::array()), "50000");
  EXPECT_LT(seconds_since(t0), 5.0);
  // 200,000 entries exceed the 1 MiB template limit.
  std::string big = "{%- set d = {";
  for (int i = 0; i < 200000; ++i) big += (i ? ",'k" : "'k") + std::to_string(i) + "':1";
  big += "} -%}";
  test::write_file(dir / "chat_template.jinja", big);
  try {
    ChatTemplate::from_tokenizer_config(dir.string());
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
    EXPECT_NE(std::string(e.what()).find("limit"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ia::tok
