// Normalizers, pre-tokenizers and decoders beyond the BERT/GPT-2 basics:
// Nmt, Precompiled (SentencePiece charsmap), ByteLevel normalizer,
// UnicodeScripts, CharDelimiterSplit, FixedLength, BPEDecoder, CTC, Replace.
#include <gtest/gtest.h>

#include "core/error.h"
#include "tok_test_util.h"
#include "tokenizers/decoders.h"
#include "tokenizers/precompiled_charsmap.h"

namespace ia::tok::test {
namespace {

std::string base64(const std::string& bytes) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += t[(n >> 18) & 63];
    out += t[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? t[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? t[n & 63] : '=';
  }
  return out;
}

// A hand-built Darts double array with two rules: "A" -> "aa", "é" -> "e".
std::string tiny_charsmap() {
  std::vector<uint32_t> u(0x16C, 0);
  u[0] = 1u << 10;                            // root: offset 1
  u[0x40] = 0x41u | (1u << 8) | (1u << 10);   // 'A' (1 ^ 0x41), leaf, offset 1
  u[0x41] = 0;                                // value: "aa" at 0
  u[0xC2] = 0xC3u | (0x100u << 10);           // first byte of é, offset 0x100
  u[0x16B] = 0xA9u | (1u << 8) | (1u << 10);  // second byte (0x1C2 ^ 0xA9), leaf
  u[0x16A] = 3;                               // value: "e" at 3
  std::string blob;
  auto put32 = [&](uint32_t v) {
    for (int k = 0; k < 4; ++k) blob.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
  };
  put32(static_cast<uint32_t>(u.size() * 4));
  for (uint32_t v : u) put32(v);
  blob += std::string("aa\0e\0", 5);
  return blob;
}

TEST(Normalizers, NmtDropsControlsAndMapsSpaces) {
  EXPECT_EQ(normalize({{"type", "Nmt"}},
                      "a\x01"
                      "b\tc\xE2\x80\x8B"
                      "d\xEF\xBB\xBF"),
            "ab c d ");
}

TEST(Normalizers, PrecompiledAppliesCharsmapRules) {
  const json spec = {{"type", "Precompiled"}, {"precompiled_charsmap", base64(tiny_charsmap())}};
  EXPECT_EQ(normalize(spec, "xA\xC3\xA9y"), "xaaey");
  // Offsets survive an expansion: the token over "aa" maps back to "A".
  auto n = make_normalizer(spec);
  NormalizedString s("A\xC3\xA9");
  n->normalize(s);
  EXPECT_EQ(s.get(), "aae");
  EXPECT_EQ(s.convert_normalized(0, 2), (Offsets{0, 1}));
  EXPECT_EQ(s.convert_normalized(2, 3), (Offsets{1, 3}));
  // Empty map: nothing happens.
  EXPECT_EQ(normalize({{"type", "Precompiled"}, {"precompiled_charsmap", ""}}, "A"), "A");
}

TEST(Normalizers, PrecompiledRejectsCorruptBlobs) {
  EXPECT_THROW(make_normalizer(json{{"type", "Precompiled"}, {"precompiled_charsmap", "@@@@"}}), ia::Error);
  EXPECT_THROW(make_normalizer(json{{"type", "Precompiled"}, {"precompiled_charsmap", base64("\xFF\xFF\xFF\x00xx")}}),
               ia::Error);
  // A trie pointing outside itself is ignored, never read out of bounds.
  std::string blob("\x04\x00\x00\x00", 4);
  blob += std::string("\xFF\xFF\xFF\xFF", 4);
  PrecompiledCharsmap m(blob, "test");
  EXPECT_FALSE(m.transform("A").has_value());
}

TEST(Normalizers, ByteLevelMapsBytes) {
  EXPECT_EQ(normalize({{"type", "ByteLevel"}}, "a b\xC3\xA9"),
            "a\xC4\xA0"
            "b\xC3\x83\xC2\xA9");
}

TEST(PreTokenizers, UnicodeScriptsSplitsOnScriptChange) {
  const json spec = {{"type", "UnicodeScripts"}};
  EXPECT_EQ(pre_tokenize(spec, "Hello\xE4\xB8\x96\xE7\x95\x8C 123"),
            (std::vector<std::string>{"Hello", "\xE4\xB8\x96\xE7\x95\x8C ", "123"}));
  // Hiragana, Katakana and Han count as one script.
  EXPECT_EQ(pre_tokenize(spec, "\xE3\x81\xB2\xE3\x82\xAB\xE6\xBC\xA2").size(), 1u);
  // Leading spaces are dropped, as in HF.
  EXPECT_EQ(pre_tokenize(spec, "  ab"), (std::vector<std::string>{"ab"}));
  EXPECT_TRUE(pre_tokenize(spec, "   ").empty());
}

TEST(PreTokenizers, CharDelimiterSplit) {
  EXPECT_EQ(pre_tokenize({{"type", "CharDelimiterSplit"}, {"delimiter", "-"}}, "a-b--c"),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_THROW(make_pre_tokenizer(json{{"type", "CharDelimiterSplit"}, {"delimiter", "ab"}}), ia::Error);
}

TEST(PreTokenizers, FixedLength) {
  EXPECT_EQ(pre_tokenize({{"type", "FixedLength"}, {"length", 3}}, "abcdefgh"),
            (std::vector<std::string>{"abc", "def", "gh"}));
  EXPECT_EQ(pre_tokenize({{"type", "FixedLength"}, {"length", 2}}, "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"),
            (std::vector<std::string>{"\xE6\x97\xA5\xE6\x9C\xAC", "\xE8\xAA\x9E"}));
  EXPECT_EQ(pre_tokenize({{"type", "FixedLength"}}, "abcdefg"), (std::vector<std::string>{"abcde", "fg"}));
}

std::string decode(const json& spec, std::vector<std::string> tokens) {
  return make_decoder(spec)->decode(std::move(tokens));
}

TEST(Decoders, BpeDecoderTurnsSuffixIntoSpaces) {
  EXPECT_EQ(decode({{"type", "BPEDecoder"}, {"suffix", "</w>"}}, {"hel", "lo</w>", "wor", "ld</w>"}), "hello world");
}

TEST(Decoders, CtcCollapsesRepeatsAndBlanks) {
  const json spec = {{"type", "CTC"}, {"pad_token", "<pad>"}, {"word_delimiter_token", "|"}, {"cleanup", true}};
  EXPECT_EQ(decode(spec, {"<pad>", "h", "h", "e", "l", "l", "<pad>", "l", "o", "|", "w", "o", "r", "l", "d"}),
            "hello world");
  EXPECT_EQ(decode(spec, {}), "");
}

TEST(Decoders, ReplaceWithRegex) {
  EXPECT_EQ(decode({{"type", "Replace"}, {"pattern", {{"Regex", "_+"}}}, {"content", " "}}, {"a__b", "_c"}), "a b c");
}

}  // namespace
}  // namespace ia::tok::test
