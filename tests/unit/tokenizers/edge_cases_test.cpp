// Inputs the reference is known to be touchy about, through every fixture
// tokenizer: nothing may crash, offsets stay inside the text, batch == single,
// and invalid UTF-8 is replaced rather than rejected.
#include <gtest/gtest.h>

#include "tok_test_util.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/unicode.h"

namespace ia::tok::test {
namespace {

const std::vector<std::string> kFamilies = {"bert", "gpt2", "whisper", "qwen2", "clip", "llama", "t5"};

TEST(EdgeCases, AllFamiliesSurviveAwkwardInput) {
  const std::vector<std::string> inputs = {
      "",
      " ",
      "\t\n \r\n",
      "\xCC\x81",                                                                  // lone combining acute
      "e\xCC\x81\xCC\x81\xCC\x81",                                                 // stacked marks
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7",  // ZWJ family
      "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",                                          // thumbs up + skin tone
      "\xE4\xB8\xAD\xE6\x96\x87\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",              // CJK
      std::string(5000, 'a'),                                                      // very long word
      std::string(3000, '!'),
      "x\xFFy\xC3(z\xE2\x82",  // invalid UTF-8
  };
  for (const auto& family : kFamilies) {
    auto tok = Tokenizer::from_folder(fixture_dir(family));
    for (const auto& in : inputs) {
      SCOPED_TRACE(family + " input of " + std::to_string(in.size()) + " bytes");
      const Encoding e = tok->encode(in);
      ASSERT_EQ(e.ids.size(), e.offsets.size());
      ASSERT_EQ(e.ids.size(), e.tokens.size());
      // Offsets are chars of the sanitized text: never past its end.
      const size_t limit = uni::char_count(in) + 4;
      for (const auto& o : e.offsets) {
        EXPECT_LE(o.first, o.second);
        EXPECT_LE(o.second, limit);
      }
      (void)tok->decode(e.ids, true);
      (void)tok->decode(e.ids, false);
    }
    const auto batch = tok->encode_batch(inputs);
    for (size_t i = 0; i < inputs.size(); ++i)
      EXPECT_EQ(batch[i].ids, tok->encode(inputs[i]).ids) << family << " " << i;
  }
}

TEST(EdgeCases, InvalidUtf8BecomesReplacementChars) {
  auto tok = Tokenizer::from_folder(fixture_dir("gpt2"));
  // Each maximal invalid subpart is one U+FFFD, so these two spell the same.
  EXPECT_EQ(tok->encode("a\xFF"
                        "b")
                .ids,
            tok->encode("a\xEF\xBF\xBD"
                        "b")
                .ids);
}

// The one test for "is this byte inside a character": exactly 0x80..0xBF, and
// in every encoded code point all bytes but the first.
TEST(EdgeCases, Utf8ContinuationBytes) {
  static_assert(uni::is_utf8_continuation(0x80) && uni::is_utf8_continuation(0xBF));
  static_assert(!uni::is_utf8_continuation('a') && !uni::is_utf8_continuation(0xC2) &&
                !uni::is_utf8_continuation(0xFF));
  int continuation = 0;
  for (int b = 0; b < 256; ++b) continuation += uni::is_utf8_continuation(static_cast<unsigned char>(b));
  EXPECT_EQ(continuation, 64);
  for (char32_t c : {U'a', U'\u00e9', U'\u20ac', U'\U0001F600', U'\U0010FFFF'}) {
    std::string s;
    uni::append_utf8(s, c);
    ASSERT_EQ(s.size(), uni::utf8_len(c));
    EXPECT_FALSE(uni::is_utf8_continuation(s[0]));
    for (size_t i = 1; i < s.size(); ++i) EXPECT_TRUE(uni::is_utf8_continuation(s[i])) << i;
  }
}

TEST(EdgeCases, AddedTokensTouchingText) {
  auto tok = Tokenizer::from_folder(fixture_dir("gpt2"));
  const auto e = tok->encode("abc<|endoftext|>def", false);
  ASSERT_GE(e.tokens.size(), 3u);
  bool found = false;
  for (size_t i = 0; i < e.tokens.size(); ++i) {
    if (e.tokens[i] == "<|endoftext|>") {
      found = true;
      EXPECT_EQ(e.offsets[i], (std::pair<size_t, size_t>{3, 16}));
    }
  }
  EXPECT_TRUE(found);
  auto t5 = Tokenizer::from_folder(fixture_dir("t5"));
  const auto f = t5->encode("x</s>y", false);
  EXPECT_NE(std::find(f.ids.begin(), f.ids.end(), 1), f.ids.end());
}

TEST(EdgeCases, BatchRunsInParallelAndKeepsOrder) {
  auto tok = Tokenizer::from_folder(fixture_dir("llama"));
  std::vector<std::string> texts;
  for (int i = 0; i < 500; ++i)
    texts.push_back("text number " + std::to_string(i) + std::string(static_cast<size_t>(i % 37), 'z'));
  const auto batch = tok->encode_batch(texts);
  ASSERT_EQ(batch.size(), texts.size());
  for (size_t i = 0; i < texts.size(); i += 7) EXPECT_EQ(batch[i].ids, tok->encode(texts[i]).ids);
  const auto pairs = tok->encode_batch_pairs({{"a", "b"}, {"first", "second"}});
  EXPECT_EQ(pairs[1].ids, tok->encode_pair("first", "second").ids);
}

}  // namespace
}  // namespace ia::tok::test
