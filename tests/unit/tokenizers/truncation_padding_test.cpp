// Truncation and padding from tokenizer.json, applied as HF `tokenizers` does.
#include <gtest/gtest.h>

#include "core/error.h"
#include "tok_test_util.h"
#include "tokenizers/tokenizer.h"

namespace ia::tok::test {
namespace {

// WordLevel over single letters with [CLS] x [SEP] (pair: [CLS] a [SEP] b [SEP]).
json letters(json truncation, json padding) {
  json vocab = {{"[PAD]", 0}, {"[UNK]", 1}, {"[CLS]", 2}, {"[SEP]", 3}};
  int id = 4;
  for (char c = 'a'; c <= 'z'; ++c) vocab[std::string(1, c)] = id++;
  return json{{"version", "1.0"},
              {"truncation", truncation},
              {"padding", padding},
              {"added_tokens", json::array()},
              {"normalizer", nullptr},
              {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
              {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "[UNK]"}}},
              {"post_processor", {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}}},
              {"decoder", nullptr}};
}

std::vector<std::string> toks(const Encoding& e) {
  return e.tokens;
}

TEST(Truncation, LeavesRoomForSpecialTokens) {
  auto t = Tokenizer::from_json_string(letters({{"max_length", 5}}, nullptr).dump());
  EXPECT_EQ(toks(t->encode("a b c d e f")), (std::vector<std::string>{"[CLS]", "a", "b", "c", "[SEP]"}));
  EXPECT_EQ(toks(t->encode("a b c d e f", false)), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(t->encode("a b").ids.size(), 4u);  // short input untouched
}

TEST(Truncation, LeftDirectionKeepsTheEnd) {
  auto t = Tokenizer::from_json_string(letters({{"max_length", 5}, {"direction", "Left"}}, nullptr).dump());
  EXPECT_EQ(toks(t->encode("a b c d e f")), (std::vector<std::string>{"[CLS]", "d", "e", "f", "[SEP]"}));
}

TEST(Truncation, LongestFirstOnPairs) {
  auto t = Tokenizer::from_json_string(letters({{"max_length", 7}}, nullptr).dump());
  // 4 tokens for the texts: the short one keeps its 2, the long one gets 2.
  EXPECT_EQ(toks(t->encode_pair("a b c d e f", "x y")),
            (std::vector<std::string>{"[CLS]", "a", "b", "[SEP]", "x", "y", "[SEP]"}));
  // Both too long: they share the room (the odd token goes to the second).
  auto t2 = Tokenizer::from_json_string(letters({{"max_length", 8}}, nullptr).dump());
  EXPECT_EQ(toks(t2->encode_pair("a b c d e f", "s t u v w x")),
            (std::vector<std::string>{"[CLS]", "a", "b", "[SEP]", "s", "t", "u", "[SEP]"}));
}

TEST(Truncation, OnlyFirstAndOnlySecond) {
  auto first = Tokenizer::from_json_string(letters({{"max_length", 7}, {"strategy", "OnlyFirst"}}, nullptr).dump());
  EXPECT_EQ(toks(first->encode_pair("a b c d", "x y")),
            (std::vector<std::string>{"[CLS]", "a", "b", "[SEP]", "x", "y", "[SEP]"}));
  auto second = Tokenizer::from_json_string(letters({{"max_length", 7}, {"strategy", "OnlySecond"}}, nullptr).dump());
  EXPECT_EQ(toks(second->encode_pair("a b", "v w x y")),
            (std::vector<std::string>{"[CLS]", "a", "b", "[SEP]", "v", "w", "[SEP]"}));
  // As in HF: OnlySecond without a pair, or a sequence too short to cut, is an error.
  EXPECT_THROW(second->encode("a b c d e f g h"), ia::Error);
  EXPECT_THROW(first->encode_pair("a", "v w x y z"), ia::Error);
}

TEST(Truncation, BadSettingsAreRejected) {
  EXPECT_THROW(Tokenizer::from_json_string(letters({{"max_length", 4}, {"stride", 2}}, nullptr).dump()), ia::Error);
  EXPECT_THROW(Tokenizer::from_json_string(letters({{"max_length", -1}}, nullptr).dump()), ia::Error);
  EXPECT_THROW(Tokenizer::from_json_string(letters({{"strategy", "Sideways"}}, nullptr).dump()), ia::Error);
}

TEST(Padding, BatchLongestInEncodeBatch) {
  const json pad = {{"strategy", "BatchLongest"}, {"pad_id", 0}, {"pad_token", "[PAD]"}, {"pad_type_id", 0}};
  auto t = Tokenizer::from_json_string(letters(nullptr, pad).dump());
  auto b = t->encode_batch({"a", "a b c"});
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(toks(b[0]), (std::vector<std::string>{"[CLS]", "a", "[SEP]", "[PAD]", "[PAD]"}));
  EXPECT_EQ(b[0].attention_mask, (std::vector<int32_t>{1, 1, 1, 0, 0}));
  EXPECT_EQ(b[0].special_tokens_mask, (std::vector<int32_t>{1, 0, 1, 1, 1}));
  EXPECT_EQ(b[1].ids.size(), 5u);
  // A single encode is its own batch: nothing to pad.
  EXPECT_EQ(t->encode("a").ids.size(), 3u);
  EXPECT_EQ(t->pad_token_id(), 0);
}

TEST(Padding, FixedLeftAndMultiple) {
  auto t = Tokenizer::from_json_string(
      letters(nullptr, {{"strategy", {{"Fixed", 6}}}, {"direction", "Left"}, {"pad_id", 0}, {"pad_token", "[PAD]"}})
          .dump());
  auto e = t->encode("a");
  EXPECT_EQ(toks(e), (std::vector<std::string>{"[PAD]", "[PAD]", "[PAD]", "[CLS]", "a", "[SEP]"}));
  EXPECT_EQ(e.offsets[0], (std::pair<size_t, size_t>{0, 0}));
  EXPECT_EQ(t->encode("a b c d e f g").ids.size(), 9u);  // padding never truncates
  auto m = Tokenizer::from_json_string(
      letters(nullptr, {{"strategy", "BatchLongest"}, {"pad_to_multiple_of", 4}, {"pad_id", 0}}).dump());
  EXPECT_EQ(m->encode("a b").ids.size(), 4u);
  EXPECT_EQ(m->encode("a b c").ids.size(), 8u);
}

TEST(Padding, CanBeTurnedOff) {
  auto t = Tokenizer::from_json_string(letters({{"max_length", 3}}, {{"strategy", {{"Fixed", 6}}}}).dump());
  EXPECT_EQ(t->encode("a b c d").ids.size(), 6u);
  t->with_padding(std::nullopt);
  t->with_truncation(std::nullopt);
  EXPECT_EQ(t->encode("a b c d").ids.size(), 6u);
  EXPECT_EQ(t->encode("a b c d e").ids.size(), 7u);
}

}  // namespace
}  // namespace ia::tok::test
