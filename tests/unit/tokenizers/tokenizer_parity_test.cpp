// Parity with Hugging Face `tokenizers` 0.23: every case recorded in
// tests/fixtures/models/<family>/tokenizer_cases.json must match exactly.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace {

using nlohmann::json;

json load_cases(const std::string& family) {
  std::ifstream in(std::string(IA_FIXTURES_DIR) + "/models/" + family + "/tokenizer_cases.json");
  EXPECT_TRUE(in.good()) << family;
  return json::parse(in);
}

class TokenizerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerParity, SingleSequences) {
  const std::string family = GetParam();
  auto tok = ia::tok::Tokenizer::from_folder(std::string(IA_FIXTURES_DIR) + "/models/" + family);
  const json cases = load_cases(family);
  ASSERT_TRUE(cases.contains("cases"));
  ASSERT_FALSE(cases["cases"].empty());
  for (const auto& c : cases["cases"]) {
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE(family + ": '" + text.substr(0, 80) + "'");
    const auto enc = tok->encode(text, true);
    EXPECT_EQ(enc.ids, c["ids"].get<std::vector<int32_t>>());
    if (c.contains("tokens")) {
      EXPECT_EQ(enc.tokens, c["tokens"].get<std::vector<std::string>>());
    }
    if (c.contains("offsets")) {
      std::vector<std::pair<size_t, size_t>> want;
      for (const auto& o : c["offsets"]) want.emplace_back(o[0].get<size_t>(), o[1].get<size_t>());
      EXPECT_EQ(enc.offsets, want);
    }
    EXPECT_EQ(enc.ids.size(), enc.type_ids.size());
    EXPECT_EQ(enc.ids.size(), enc.attention_mask.size());
    EXPECT_EQ(enc.ids.size(), enc.special_tokens_mask.size());
    if (c.contains("ids_no_special")) {
      EXPECT_EQ(tok->encode(text, false).ids, c["ids_no_special"].get<std::vector<int32_t>>());
    }
    if (c.contains("decoded")) {
      EXPECT_EQ(tok->decode(enc.ids, true), c["decoded"].get<std::string>());
    }
    if (c.contains("decoded_with_special")) {
      EXPECT_EQ(tok->decode(enc.ids, false), c["decoded_with_special"].get<std::string>());
    }
  }
}

TEST_P(TokenizerParity, Pairs) {
  const std::string family = GetParam();
  auto tok = ia::tok::Tokenizer::from_folder(std::string(IA_FIXTURES_DIR) + "/models/" + family);
  const json cases = load_cases(family);
  if (!cases.contains("pairs")) GTEST_SKIP() << family << " has no pair cases";
  for (const auto& c : cases["pairs"]) {
    const std::string a = c["a"].get<std::string>(), b = c["b"].get<std::string>();
    SCOPED_TRACE(family + ": '" + a + "' / '" + b + "'");
    const auto enc = tok->encode_pair(a, b, true);
    EXPECT_EQ(enc.ids, c["ids"].get<std::vector<int32_t>>());
    if (c.contains("type_ids")) {
      EXPECT_EQ(enc.type_ids, c["type_ids"].get<std::vector<int32_t>>());
    }
  }
}

TEST_P(TokenizerParity, BatchMatchesSingle) {
  const std::string family = GetParam();
  auto tok = ia::tok::Tokenizer::from_folder(std::string(IA_FIXTURES_DIR) + "/models/" + family);
  const json cases = load_cases(family);
  std::vector<std::string> texts;
  for (const auto& c : cases["cases"]) texts.push_back(c["text"].get<std::string>());
  const auto batch = tok->encode_batch(texts);
  ASSERT_EQ(batch.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(batch[i].ids, tok->encode(texts[i]).ids);
}

INSTANTIATE_TEST_SUITE_P(Families, TokenizerParity,
                         ::testing::Values("bert", "gpt2", "whisper", "qwen2", "clip", "llama", "t5"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
