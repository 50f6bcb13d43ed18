// Wav2Vec2CTCTokenizer decoding (tokenizers/ctc_tokenizer.h): CTC grouping, the blank, the
// word delimiter, special tokens, unknown ids, lower case, the files a folder may hold.
#include "tokenizers/ctc_tokenizer.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "tok_test_util.h"

namespace ia::tok {
namespace {

using test::json;

CtcTokenizer letters(CtcTokenizerOptions o = {}) {
  std::unordered_map<std::string, int64_t> vocab = {{"<pad>", 0}, {"<s>", 1}, {"</s>", 2}, {"<unk>", 3}, {"|", 4},
                                                    {"A", 5},     {"B", 6},   {"'", 7},    {"S", 8},     {"É", 9}};
  return CtcTokenizer(vocab, o);
}

TEST(CtcTokenizer, FixtureIdsDecodeToTheReferenceText) {
  // tests/fixtures/models/wav2vec2: the frame-wise argmax of transformers' logits and its text.
  const std::string dir = test::fixture_dir("wav2vec2");
  json ref = test::read_json(dir + "/reference.json");
  auto tok = CtcTokenizer::load(dir);
  EXPECT_EQ(tok->vocab_size(), 32);
  EXPECT_EQ(tok->decode(ref["ctc_ids"].get<std::vector<int64_t>>()), ref["ctc_text"].get<std::string>());
}

TEST(CtcTokenizer, GroupsRepeatsDropsBlanksAndSpellsTheDelimiterAsASpace) {
  CtcTokenizer t = letters();
  // A A pad A | | B -> "AA B": the blank separates the two As, the repeated delimiter is one space.
  EXPECT_EQ(t.decode({5, 5, 0, 5, 4, 4, 6}), "AA B");
  // Leading and trailing delimiters are stripped, inner ones kept (a blank between two
  // delimiters keeps both: two spaces).
  EXPECT_EQ(t.decode({0, 4, 5, 4, 4, 0, 6, 4, 0}), "A B");
  EXPECT_EQ(t.decode({5, 4, 0, 4, 6}), "A  B");
  EXPECT_EQ(t.decode({}), "");
  EXPECT_EQ(t.decode({0, 0, 0}), "");
  // Without grouping every frame counts.
  EXPECT_EQ(t.decode({5, 5, 0, 5}, false, false), "AAA");
  // Special tokens stay unless skipped (transformers' ASR pipeline keeps them for CTC).
  EXPECT_EQ(t.decode({1, 5, 2}), "<s>A</s>");
}

TEST(CtcTokenizer, SkippingSpecialTokensDropsTheBlankBeforeGrouping) {
  // transformers drops every special token, the pad with them, before grouping: A pad A is "A".
  CtcTokenizer t = letters();
  EXPECT_EQ(t.decode({1, 5, 0, 5, 4, 6, 2, 3}, true), "A B");
  EXPECT_EQ(t.decode({1, 5, 0, 5, 4, 6, 2, 3}, false), "<s>AA B</s><unk>");
}

TEST(CtcTokenizer, UnknownIdsBecomeTheUnkToken) {
  CtcTokenizer t = letters();
  EXPECT_EQ(t.id_to_token(99), "<unk>");
  EXPECT_EQ(t.id_to_token(-1), "<unk>");
  EXPECT_EQ(t.decode({5, 99, 99, 6}), "A<unk>B");
  EXPECT_EQ(t.token_to_id("B"), 6);
  EXPECT_EQ(t.token_to_id("Z"), -1);
}

TEST(CtcTokenizer, LowerCaseAndCleanUp) {
  CtcTokenizerOptions o;
  o.do_lower_case = true;
  EXPECT_EQ(letters(o).decode({5, 4, 9, 6}), "a éb");
  // clean_up_tokenization_spaces: " 's" -> "'s" (after lower-casing, as transformers runs it).
  o.clean_up_tokenization_spaces = true;
  EXPECT_EQ(letters(o).decode({5, 4, 7, 8}), "a's");
  o.do_lower_case = false;
  EXPECT_EQ(letters(o).decode({5, 4, 7, 4, 6}), "A'B");
  o.clean_up_tokenization_spaces = false;
  EXPECT_EQ(letters(o).decode({5, 4, 7, 4, 6}), "A ' B");
}

TEST(CtcTokenizer, FolderOptionsTargetLangAndAddedTokens) {
  test::ScratchDir dir("ia_ctc_tokenizer");
  test::write_file(dir.path() / "vocab.json",
                   R"({"en": {"<blank>": 0, "_": 1, "a": 2}, "fr": {"<blank>": 0, "_": 1, "é": 2, "e": 2}})");
  test::write_file(dir.path() / "tokenizer_config.json", R"({"pad_token": {"content": "<blank>"},
      "word_delimiter_token": "_", "replace_word_delimiter_char": "-", "target_lang": "fr",
      "added_tokens_decoder": {"7": {"content": "<extra>", "special": true}}})");
  test::write_file(dir.path() / "special_tokens_map.json", R"({"unk_token": "<oov>", "pad_token": "<ignored>"})");
  auto t = CtcTokenizer::load(dir.path().string());
  EXPECT_EQ(t->options().pad_token, "<blank>");  // the config wins over the map
  EXPECT_EQ(t->options().unk_token, "<oov>");    // the map fills what the config lacks
  // "e" comes after "é" with the same id: it decodes id 2, as transformers' inverted dict.
  EXPECT_EQ(t->decode({2, 0, 2, 1, 2, 7, 9}), "ee-e<extra><oov>");
}

TEST(CtcTokenizer, MissingOrMalformedFiles) {
  test::ScratchDir dir("ia_ctc_tokenizer_bad");
  try {
    CtcTokenizer::load(dir.path().string());
    FAIL() << "a folder without vocab.json loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
  test::write_file(dir.path() / "vocab.json", R"({"a": "zero"})");
  EXPECT_THROW(CtcTokenizer::load(dir.path().string()), Error);
  test::write_file(dir.path() / "vocab.json", R"({"en": {"a": 0}})");  // per language, no target_lang
  EXPECT_THROW(CtcTokenizer::load(dir.path().string()), Error);
  test::write_file(dir.path() / "vocab.json", R"({"a": 0})");
  test::write_file(dir.path() / "tokenizer_config.json", R"({"do_lower_case": "yes"})");
  EXPECT_THROW(CtcTokenizer::load(dir.path().string()), Error);
  test::write_file(dir.path() / "tokenizer_config.json", "[1, 2]");
  EXPECT_THROW(CtcTokenizer::load(dir.path().string()), Error);
}

}  // namespace
}  // namespace ia::tok
