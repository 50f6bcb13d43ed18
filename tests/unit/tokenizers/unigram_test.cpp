// The Unigram model: Viterbi segmentation, unknown chars, byte fallback.
#include <gtest/gtest.h>

#include "core/error.h"
#include "tok_test_util.h"
#include "tokenizers/model.h"

namespace ia::tok::test {
namespace {

std::vector<Token> run(const json& spec, const std::string& word) {
  auto m = make_model(spec);
  std::vector<Token> out;
  m->tokenize(word, out);
  return out;
}

std::vector<std::string> values(const std::vector<Token>& t) {
  std::vector<std::string> v;
  for (const auto& x : t) v.push_back(x.value);
  return v;
}

TEST(Unigram, PicksMostLikelySegmentation) {
  // "ab" as one piece (-1) beats "a" + "b" (-1.5 + -1.5).
  const json m = {
      {"type", "Unigram"},
      {"unk_id", 0},
      {"vocab", json::array({json::array({"<unk>", 0.0}), json::array({"a", -1.5}), json::array({"b", -1.5}),
                             json::array({"ab", -1.0}), json::array({"abc", -10.0}), json::array({"c", -1.0})})}};
  auto t = run(m, "abc");
  EXPECT_EQ(values(t), (std::vector<std::string>{"ab", "c"}));
  EXPECT_EQ(t[0].id, 3);
  EXPECT_EQ(t[1].offsets, (Offsets{2, 3}));
}

TEST(Unigram, UnknownCharsAreFusedAndKeepTheirText) {
  const json m = {{"type", "Unigram"},
                  {"unk_id", 0},
                  {"vocab", json::array({json::array({"<unk>", 0.0}), json::array({"a", -1.0})})}};
  auto t = run(m,
               "a\xE6\x97\xA5\xE6\x9C\xAC"
               "a");  // a日本a
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[1].id, 0);
  EXPECT_EQ(t[1].value, "\xE6\x97\xA5\xE6\x9C\xAC");  // HF keeps the original text of an unk piece
  EXPECT_EQ(t[1].offsets, (Offsets{1, 7}));
}

TEST(Unigram, ByteFallbackSpellsUnknownBytes) {
  json vocab = json::array({json::array({"<unk>", 0.0}), json::array({"a", -1.0})});
  for (int b = 0; b < 256; ++b) {
    char code[8];
    std::snprintf(code, sizeof code, "<0x%02X>", b);
    vocab.push_back(json::array({code, -5.0}));
  }
  const json m = {{"type", "Unigram"}, {"unk_id", 0}, {"byte_fallback", true}, {"vocab", vocab}};
  auto t = run(m, "a\xC3\xA9");  // aé
  EXPECT_EQ(values(t), (std::vector<std::string>{"a", "<0xC3>", "<0xA9>"}));
  EXPECT_EQ(t[1].offsets, (Offsets{1, 3}));  // both bytes report the whole char, as HF does
}

TEST(Unigram, NoUnkIdIsAClearError) {
  const json m = {{"type", "Unigram"}, {"vocab", json::array({json::array({"a", -1.0})})}};
  EXPECT_THROW(run(m, "ab"), ia::Error);
  EXPECT_EQ(run(m, "aa").size(), 2u);
}

TEST(Unigram, RejectsBadVocab) {
  EXPECT_THROW(make_model(json{{"type", "Unigram"}, {"unk_id", 5}, {"vocab", json::array({json::array({"a", -1.0})})}}),
               ia::Error);
  EXPECT_THROW(make_model(json{{"type", "Unigram"}, {"vocab", json::array({json::array({"a"})})}}), ia::Error);
  EXPECT_THROW(make_model(json{{"type", "Unigram"}, {"vocab", json::array({json::array({"a", "x"})})}}), ia::Error);
}

TEST(Unigram, VeryLongWordIsLinear) {
  const json m = {
      {"type", "Unigram"},
      {"unk_id", 0},
      {"vocab", json::array({json::array({"<unk>", 0.0}), json::array({"x", -1.0}), json::array({"xx", -1.5})})}};
  auto t = run(m, std::string(100000, 'x'));
  EXPECT_EQ(t.size(), 50000u);
}

}  // namespace
}  // namespace ia::tok::test
