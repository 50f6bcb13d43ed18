// Unit tests of the tokenizer pipeline components, through their factories
// (tokenizer.json objects) and through the public Tokenizer API.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizers/decoders.h"
#include "tokenizers/normalizers.h"
#include "tokenizers/pre_tokenizers.h"
#include "tokenizers/tokenizer.h"

namespace {

using ia::tok::NormalizedString;
using ia::tok::PreTokenizedString;
using ia::tok::Tokenizer;
using nlohmann::json;

std::string norm(const json& spec, const std::string& text) {
  auto n = ia::tok::make_normalizer(spec);
  NormalizedString s(text);
  n->normalize(s);
  return s.get();
}

std::vector<std::string> pre(const json& spec, const std::string& text) {
  auto p = ia::tok::make_pre_tokenizer(spec);
  PreTokenizedString s(text);
  p->pre_tokenize(s);
  std::vector<std::string> out;
  for (auto& sp : s.splits()) out.push_back(sp.normalized.get());
  return out;
}

std::string bert_dir() {
  return std::string(IA_FIXTURES_DIR) + "/models/bert";
}

// A small WordLevel tokenizer: whitespace split, vocab of the given words.
json word_level(const std::vector<std::string>& words, json normalizer = nullptr, json added = json::array()) {
  json vocab = json::object();
  vocab["<unk>"] = 0;
  int id = 1;
  for (const auto& w : words) vocab[w] = id++;
  return json{{"version", "1.0"},
              {"added_tokens", added},
              {"normalizer", normalizer},
              {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
              {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "<unk>"}}},
              {"post_processor", nullptr},
              {"decoder", nullptr}};
}

// ---------------------------------------------------------------- normalizers

TEST(Normalizers, BertNormalizerCleansLowercasesStripsAccents) {
  const json bert = {{"type", "BertNormalizer"},
                     {"clean_text", true},
                     {"handle_chinese_chars", true},
                     {"strip_accents", nullptr},
                     {"lowercase", true}};
  EXPECT_EQ(norm(bert, "H\xC3\xA9llo\tWORLD\x01"), "hello world");
  EXPECT_EQ(norm(bert,
                 "a\xE4\xB8\xAD"
                 "b"),
            "a \xE4\xB8\xAD b");  // a中b -> a 中 b
  EXPECT_EQ(norm(bert, ""), "");
  json keep = bert;
  keep["strip_accents"] = false;
  EXPECT_EQ(norm(keep, "CAF\xC3\x89"), "caf\xC3\xA9");  // CAFÉ -> café (accent kept)
}

TEST(Normalizers, LowercaseIsFullMapping) {
  EXPECT_EQ(norm({{"type", "Lowercase"}},
                 "\xC3\x80"
                 "B"),
            "\xC3\xA0"
            "b");
  // U+0130 lowercases to two chars: i + U+0307.
  EXPECT_EQ(norm({{"type", "Lowercase"}}, "\xC4\xB0"), "i\xCC\x87");
}

TEST(Normalizers, UnicodeForms) {
  EXPECT_EQ(norm({{"type", "NFD"}}, "\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(norm({{"type", "NFC"}}, "e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(norm({{"type", "NFKC"}}, "\xEF\xAC\x81"), "fi");                       // ﬁ
  EXPECT_EQ(norm({{"type", "NFKD"}}, "\xE2\x91\xA0"), "1");                        // ①
  EXPECT_EQ(norm({{"type", "NFC"}}, "\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");  // jamo -> 가
  EXPECT_EQ(norm({{"type", "NFC"}}, "plain ascii"), "plain ascii");
}

TEST(Normalizers, StripAccentsStripReplacePrependSequence) {
  EXPECT_EQ(norm({{"type", "StripAccents"}}, "e\xCC\x81"), "e");
  EXPECT_EQ(norm({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, "  hi \t"), "hi");
  EXPECT_EQ(norm({{"type", "Strip"}, {"strip_left", false}, {"strip_right", true}}, "  hi  "), "  hi");
  EXPECT_EQ(norm({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, "   "), "");
  EXPECT_EQ(norm({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}, "a b  c"),
            "a\xE2\x96\x81"
            "b\xE2\x96\x81\xE2\x96\x81"
            "c");
  EXPECT_EQ(norm({{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}, "a   b"), "a b");
  EXPECT_EQ(norm({{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}}, "hi"), "\xE2\x96\x81hi");
  EXPECT_EQ(norm({{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}}, ""), "");
  const json seq = {
      {"type", "Sequence"},
      {"normalizers", json::array({{{"type", "NFD"}}, {{"type", "StripAccents"}}, {{"type", "Lowercase"}}})}};
  EXPECT_EQ(norm(seq, "Na\xC3\xAFve"), "naive");
}

TEST(Normalizers, AlignmentsFollowEdits) {
  // NFD + strip accents: 'ï' (2 bytes) becomes 'i' aligned to the whole original char.
  NormalizedString s("na\xC3\xAFve");
  s.nfd();
  s.filter([](char32_t c) { return c != 0x308; });
  EXPECT_EQ(s.get(), "naive");
  ASSERT_TRUE(s.convert_normalized(2, 3).has_value());
  EXPECT_EQ(*s.convert_normalized(2, 3), (std::pair<size_t, size_t>{2, 4}));
  EXPECT_EQ(*s.convert_normalized(3, 5), (std::pair<size_t, size_t>{4, 6}));
}

// ------------------------------------------------------------- pre-tokenizers

TEST(PreTokenizers, Bert) {
  EXPECT_EQ(pre({{"type", "BertPreTokenizer"}}, "Hello, world!"),
            (std::vector<std::string>{"Hello", ",", "world", "!"}));
  EXPECT_TRUE(pre({{"type", "BertPreTokenizer"}}, "   ").empty());
  EXPECT_TRUE(pre({{"type", "BertPreTokenizer"}}, "").empty());
}

TEST(PreTokenizers, WhitespaceAndSplit) {
  EXPECT_EQ(pre({{"type", "Whitespace"}}, "Hey man!! 3.5 caf\xC3\xA9"),
            (std::vector<std::string>{"Hey", "man", "!!", "3", ".", "5", "caf\xC3\xA9"}));
  EXPECT_EQ(pre({{"type", "WhitespaceSplit"}}, " a  b!\tc "), (std::vector<std::string>{"a", "b!", "c"}));
}

TEST(PreTokenizers, PunctuationDigitsSequence) {
  EXPECT_EQ(pre({{"type", "Punctuation"}, {"behavior", "Isolated"}}, "a,b"), (std::vector<std::string>{"a", ",", "b"}));
  EXPECT_EQ(pre({{"type", "Punctuation"}, {"behavior", "MergedWithPrevious"}}, "a,b"),
            (std::vector<std::string>{"a,", "b"}));
  EXPECT_EQ(pre({{"type", "Digits"}, {"individual_digits", false}}, "abc123d"),
            (std::vector<std::string>{"abc", "123", "d"}));
  EXPECT_EQ(pre({{"type", "Digits"}, {"individual_digits", true}}, "a12"), (std::vector<std::string>{"a", "1", "2"}));
  const json seq = {{"type", "Sequence"},
                    {"pretokenizers",
                     json::array({{{"type", "WhitespaceSplit"}}, {{"type", "Digits"}, {"individual_digits", true}}})}};
  EXPECT_EQ(pre(seq, "x1 y"), (std::vector<std::string>{"x", "1", "y"}));
}

// ---------------------------------------------------------------------- models

TEST(WordPiece, LongWordIsUnkAndOffsetsCoverIt) {
  auto tok = Tokenizer::from_folder(bert_dir());
  const std::string word(150, 'a');
  const auto enc = tok->encode(word, false);
  ASSERT_EQ(enc.tokens.size(), 1u);
  EXPECT_EQ(enc.tokens[0], "[UNK]");
  EXPECT_EQ(enc.offsets[0], (std::pair<size_t, size_t>{0, 150}));
}

TEST(WordPiece, MissingUnkTokenIsAnError) {
  json j = {{"model", {{"type", "WordPiece"}, {"vocab", {{"a", 0}}}, {"unk_token", "[UNK]"}}},
            {"pre_tokenizer", {{"type", "WhitespaceSplit"}}}};
  auto tok = Tokenizer::from_json_string(j.dump());
  EXPECT_EQ(tok->encode("a").ids, (std::vector<int32_t>{0}));
  EXPECT_THROW(tok->encode("b"), ia::Error);
}

TEST(WordLevel, KnownAndUnknownWords) {
  auto tok = Tokenizer::from_json_string(word_level({"hello", "world"}).dump());
  const auto enc = tok->encode("hello there world");
  EXPECT_EQ(enc.ids, (std::vector<int32_t>{1, 0, 2}));
  EXPECT_EQ(tok->decode(enc.ids), "hello <unk> world");
  EXPECT_EQ(tok->vocab_size(), 3u);
}

// ----------------------------------------------------- whole pipeline, BERT

TEST(BertPipeline, EmptyAndWhitespaceOnly) {
  auto tok = Tokenizer::from_folder(bert_dir());
  for (const char* text : {"", " ", "\t\n  "}) {
    const auto enc = tok->encode(text);
    EXPECT_EQ(enc.tokens, (std::vector<std::string>{"[CLS]", "[SEP]"}));
    EXPECT_EQ(enc.special_tokens_mask, (std::vector<int32_t>{1, 1}));
    EXPECT_TRUE(tok->encode(text, false).ids.empty());
  }
}

TEST(BertPipeline, OffsetsAreCodePoints) {
  auto tok = Tokenizer::from_folder(bert_dir());
  // "😀 café": the emoji is 4 bytes but one char; é is stripped to e.
  const auto enc = tok->encode("\xF0\x9F\x98\x80 caf\xC3\xA9", false);
  ASSERT_FALSE(enc.offsets.empty());
  EXPECT_EQ(enc.offsets.front(), (std::pair<size_t, size_t>{0, 1}));
  EXPECT_EQ(enc.offsets.back().second, 6u);
}

TEST(BertPipeline, CjkCharsAreSeparateWords) {
  auto tok = Tokenizer::from_folder(bert_dir());
  const auto enc = tok->encode("\xE4\xB8\xAD\xE6\x96\x87", false);  // 中文
  ASSERT_EQ(enc.offsets.size(), 2u);
  EXPECT_EQ(enc.offsets[0], (std::pair<size_t, size_t>{0, 1}));
  EXPECT_EQ(enc.offsets[1], (std::pair<size_t, size_t>{1, 2}));
}

TEST(BertPipeline, InvalidUtf8NeverCrashes) {
  auto tok = Tokenizer::from_folder(bert_dir());
  const std::string bad[] = {
      "a\xFF"
      "b",
      "\xC3",
      "\xED\xA0\x80",
      "\xF0\x9F\x98",
      std::string("x\0y", 3),
      "\x80\x80"};
  for (const auto& t : bad) {
    const auto enc = tok->encode(t);
    EXPECT_EQ(enc.ids.size(), enc.offsets.size());
    (void)tok->decode(enc.ids);
  }
  // U+FFFD is removed by the BERT normalizer: "a\xFF" "b" reads as "a" "b".
  EXPECT_EQ(tok->encode("a\xFF"
                        "b",
                        false)
                .tokens,
            tok->encode("ab", false).tokens);
  // Without a cleaning normalizer the replacement char is a token of its own.
  auto wl = Tokenizer::from_json_string(word_level({"a"}).dump());
  const auto enc = wl->encode("a \xFF");
  EXPECT_EQ(enc.ids, (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(enc.offsets[1], (std::pair<size_t, size_t>{2, 3}));
}

TEST(BertPipeline, SpecialTokensInTextAndDecode) {
  auto tok = Tokenizer::from_folder(bert_dir());
  const auto enc = tok->encode("hello[MASK]world", false);
  ASSERT_GE(enc.tokens.size(), 3u);
  const auto mask = tok->token_to_id("[MASK]");
  ASSERT_TRUE(mask.has_value());
  EXPECT_NE(std::find(enc.ids.begin(), enc.ids.end(), *mask), enc.ids.end());
  EXPECT_EQ(tok->decode({2, *mask, 3}, true), "");
  EXPECT_EQ(tok->decode({2, *mask, 3}, false), "[CLS] [MASK] [SEP]");
  EXPECT_EQ(tok->pad_token_id(), std::optional<int32_t>(0));
  EXPECT_EQ(tok->id_to_token(2), std::optional<std::string>("[CLS]"));
  EXPECT_FALSE(tok->id_to_token(-5).has_value());
  EXPECT_FALSE(tok->id_to_token(1 << 30).has_value());
  EXPECT_EQ(tok->decode({-1, 1 << 30}), "");
  EXPECT_EQ(tok->vocab_size(), 800u);
}

// ------------------------------------------------------------- added tokens

TEST(AddedTokens, OptionsLikeHf) {
  json added = json::array({
      {{"id", 10},
       {"content", "my"},
       {"single_word", false},
       {"lstrip", true},
       {"rstrip", true},
       {"normalized", true},
       {"special", false}},
      {{"id", 11},
       {"content", "name"},
       {"single_word", false},
       {"lstrip", false},
       {"rstrip", false},
       {"normalized", true},
       {"special", false}},
      {{"id", 12},
       {"content", "ony"},
       {"single_word", true},
       {"lstrip", false},
       {"rstrip", false},
       {"normalized", true},
       {"special", false}},
      {{"id", 13},
       {"content", "[CLS]"},
       {"single_word", false},
       {"lstrip", false},
       {"rstrip", false},
       {"normalized", false},
       {"special", true}},
  });
  auto tok = Tokenizer::from_json_string(word_level({"is", "anthony"}, {{"type", "Lowercase"}}, added).dump());
  const auto enc = tok->encode("[CLS] My name is Anthony");
  EXPECT_EQ(enc.ids, (std::vector<int32_t>{13, 10, 11, 1, 2}));
  // lstrip/rstrip: the token's span swallows the spaces around it.
  EXPECT_EQ(enc.offsets[1], (std::pair<size_t, size_t>{5, 9}));
  // Touching text: "name" is not single_word so it splits "namename".
  EXPECT_EQ(tok->encode("namename").ids, (std::vector<int32_t>{11, 11}));
  // single_word "ony" does not match inside "anthony".
  EXPECT_EQ(tok->encode("anthony ony").ids, (std::vector<int32_t>{2, 12}));
  // normalized=false special token is matched case-sensitively on raw text.
  EXPECT_EQ(tok->encode("[cls]").ids, (std::vector<int32_t>{0}));
  EXPECT_EQ(tok->decode({13, 2}, true), "anthony");
  EXPECT_EQ(tok->decode({13, 2}, false), "[CLS] anthony");
}

// ------------------------------------------------------------------ decoders

TEST(Decoders, WordPieceCleanup) {
  auto d = ia::tok::make_decoder({{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}});
  EXPECT_EQ(d->decode({"hello", "##s", ",", "world", "!", "do", "n't"}), "hellos, world! don't");
  auto seq = ia::tok::make_decoder(
      {{"type", "Sequence"},
       {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                                 {{"type", "Fuse"}}})}});
  EXPECT_EQ(seq->decode({"\xE2\x96\x81"
                         "a",
                         "b"}),
            " ab");
}

// ------------------------------------------------------------ post-processors

TEST(PostProcessors, BertAndRoberta) {
  json j = word_level({"a", "b"});
  j["post_processor"] = {{"type", "BertProcessing"}, {"sep", {"[SEP]", 102}}, {"cls", {"[CLS]", 101}}};
  auto bert = Tokenizer::from_json_string(j.dump());
  auto enc = bert->encode_pair("a", "b");
  EXPECT_EQ(enc.ids, (std::vector<int32_t>{101, 1, 102, 2, 102}));
  EXPECT_EQ(enc.type_ids, (std::vector<int32_t>{0, 0, 0, 1, 1}));
  EXPECT_EQ(enc.special_tokens_mask, (std::vector<int32_t>{1, 0, 1, 0, 1}));
  j["post_processor"] = {{"type", "RobertaProcessing"},
                         {"sep", {"</s>", 2}},
                         {"cls", {"<s>", 0}},
                         {"trim_offsets", true},
                         {"add_prefix_space", true}};
  auto roberta = Tokenizer::from_json_string(j.dump());
  enc = roberta->encode_pair("a", "b");
  EXPECT_EQ(enc.ids, (std::vector<int32_t>{0, 1, 2, 2, 2, 2}));
  EXPECT_EQ(enc.type_ids, (std::vector<int32_t>(6, 0)));
  EXPECT_EQ(roberta->encode_pair("a", "b", false).ids, (std::vector<int32_t>{1, 2}));
}

// --------------------------------------------------------- malformed input

ia::ErrorKind kind_of(const std::function<void()>& f, std::string* msg) {
  try {
    f();
  } catch (const ia::Error& e) {
    *msg = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no ia::Error thrown";
  return ia::ErrorKind::Internal;
}

TEST(Malformed, JsonErrorsAreClear) {
  std::string msg;
  EXPECT_EQ(kind_of([] { Tokenizer::from_json_string("not json"); }, &msg), ia::ErrorKind::Corrupt);
  EXPECT_EQ(kind_of([] { Tokenizer::from_json_string("[1,2]"); }, &msg), ia::ErrorKind::Corrupt);
  EXPECT_EQ(kind_of([] { Tokenizer::from_json_string("{}"); }, &msg), ia::ErrorKind::Corrupt);

  json j = word_level({"a"});
  j["normalizer"] = {{"type", "NoSuchNormalizer"}};
  EXPECT_EQ(kind_of([&] { Tokenizer::from_json_string(j.dump()); }, &msg), ia::ErrorKind::Unsupported);
  EXPECT_NE(msg.find("normalizer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("NoSuchNormalizer"), std::string::npos) << msg;

  j = word_level({"a"});
  j["normalizer"] = {{"type", "BertNormalizer"}, {"lowercase", "yes"}};
  EXPECT_EQ(kind_of([&] { Tokenizer::from_json_string(j.dump()); }, &msg), ia::ErrorKind::Corrupt);
  EXPECT_NE(msg.find("BertNormalizer"), std::string::npos) << msg;

  j = word_level({"a"});
  j["model"]["vocab"]["a"] = "one";
  EXPECT_EQ(kind_of([&] { Tokenizer::from_json_string(j.dump()); }, &msg), ia::ErrorKind::Corrupt);
  EXPECT_NE(msg.find("WordLevel"), std::string::npos) << msg;

  j = word_level({"a"});
  j["model"] = {{"type", "Unigram"}, {"unk_id", 0}, {"vocab", json::array()}};
  EXPECT_EQ(kind_of([&] { Tokenizer::from_json_string(j.dump()); }, &msg), ia::ErrorKind::Corrupt);
  EXPECT_NE(msg.find("Unigram"), std::string::npos) << msg;

  j = word_level({"a"});
  j["model"] = {{"type", "NoSuchModel"}, {"vocab", json::array()}};
  EXPECT_EQ(kind_of([&] { Tokenizer::from_json_string(j.dump()); }, &msg), ia::ErrorKind::Unsupported);

  j = word_level({"a"});
  j["model"] = {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", json::array({"a b"})}};
  EXPECT_EQ(kind_of([&] { Tokenizer::from_json_string(j.dump()); }, &msg), ia::ErrorKind::Corrupt);
  EXPECT_NE(msg.find("BPE"), std::string::npos) << msg;

  j = word_level({"a"});
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  EXPECT_EQ(kind_of([&] { Tokenizer::from_json_string(j.dump()); }, &msg), ia::ErrorKind::Corrupt);
  EXPECT_NE(msg.find("Split"), std::string::npos) << msg;

  j = word_level({"a"});
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", json::array({{{"SpecialToken", {{"id", "[X]"}, {"type_id", 0}}}}})},
                         {"pair", json::array()},
                         {"special_tokens", json::object()}};
  EXPECT_EQ(kind_of([&] { Tokenizer::from_json_string(j.dump()); }, &msg), ia::ErrorKind::Corrupt);

  j = word_level({"a"});
  j["added_tokens"] = json::array({{{"id", -3}, {"content", "x"}}});
  EXPECT_EQ(kind_of([&] { Tokenizer::from_json_string(j.dump()); }, &msg), ia::ErrorKind::Corrupt);
}

TEST(Malformed, FilesAndFolders) {
  std::string msg;
  EXPECT_EQ(kind_of([] { Tokenizer::from_folder("/nonexistent/dir"); }, &msg), ia::ErrorKind::NotFound);
  EXPECT_EQ(kind_of([] { Tokenizer::from_file("/nonexistent/tokenizer.json"); }, &msg), ia::ErrorKind::NotFound);
  EXPECT_NE(msg.find("/nonexistent/tokenizer.json"), std::string::npos);
  // A folder without tokenizer.json (vit has none).
  EXPECT_EQ(kind_of([] { Tokenizer::from_folder(std::string(IA_FIXTURES_DIR) + "/models/vit"); }, &msg),
            ia::ErrorKind::NotFound);
  const auto dir = std::filesystem::temp_directory_path() / "ia_tok_malformed_test";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "tokenizer.json").string();
  { std::ofstream(path) << "{\"model\": {\"type\": \"WordPiece\", \"vocab\": 7}}"; }
  EXPECT_EQ(kind_of([&] { Tokenizer::from_file(path); }, &msg), ia::ErrorKind::Corrupt);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("WordPiece"), std::string::npos) << msg;
  std::filesystem::remove_all(dir);
}

}  // namespace
