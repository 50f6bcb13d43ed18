// DecodeStream: the pieces handed out token by token concatenate to exactly
// Tokenizer::decode(ids), for every fixture tokenizer and every decoder kind,
// and a character is never handed out before all of its bytes have arrived.
#include "tokenizers/decode_stream.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "core/error.h"
#include "tok_test_util.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/unicode.h"

namespace ia::tok::test {
namespace {

const std::string kReplacementChar = "\xEF\xBF\xBD";

struct Streamed {
  std::vector<std::string> pieces;  // step() results, then flush()'s
  std::string text;
};

Streamed stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  DecodeStream ds(tok, skip_special);
  Streamed s;
  for (int32_t id : ids) s.pieces.push_back(ds.step(id));
  s.pieces.push_back(ds.flush());
  for (const auto& p : s.pieces) s.text += p;
  return s;
}

// Every tokenizer under tests/fixtures/models (the folders the tokenizer
// parity and edge-case tests load), by family name.
std::vector<std::pair<std::string, std::shared_ptr<Tokenizer>>> fixture_tokenizers() {
  std::vector<std::pair<std::string, std::shared_ptr<Tokenizer>>> out;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(IA_FIXTURES_DIR) + "/models")) {
    if (!entry.is_directory()) continue;
    const auto dir = entry.path();
    // wav2vec2's CTC vocab.json alone is not a tokenizer this build loads: the
    // synthetic "ctc" tokenizer below covers its decoder.
    const bool has_tokenizer =
        std::filesystem::exists(dir / "tokenizer.json") || std::filesystem::exists(dir / "vocab.txt") ||
        (std::filesystem::exists(dir / "vocab.json") && std::filesystem::exists(dir / "merges.txt"));
    if (!has_tokenizer) continue;
    out.emplace_back(dir.filename().string(), Tokenizer::from_folder(dir.string()));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

std::string tokenizer_json(const nlohmann::json& model, const nlohmann::json& decoder,
                           const nlohmann::json& added = nlohmann::json::array()) {
  return nlohmann::json{{"version", "1.0"},
                        {"added_tokens", added},
                        {"normalizer", nullptr},
                        {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
                        {"post_processor", nullptr},
                        {"decoder", decoder},
                        {"model", model}}
      .dump();
}

nlohmann::json word_level(const std::vector<std::string>& words) {
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t i = 0; i < words.size(); ++i) vocab[words[i]] = i;
  return {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", words[0]}};
}

nlohmann::json special(const std::string& content, int id) {
  return {{"id", id}, {"content", content}, {"special", true}};
}

// Small tokenizers for the decoders no fixture uses (or uses only one way),
// with tokens chosen to hit each decoder's position-dependent rules.
std::vector<std::pair<std::string, std::shared_ptr<Tokenizer>>> synthetic_tokenizers() {
  using nlohmann::json;
  std::vector<std::pair<std::string, std::shared_ptr<Tokenizer>>> out;
  auto add = [&](const std::string& name, const std::string& j) {
    out.emplace_back(name, Tokenizer::from_json_string(j));
  };
  const json specials = json::array({special("<s>", 0), special("</s>", 1)});
  const std::vector<std::string> sp_words = {"<s>",
                                             "</s>",
                                             "\xE2\x96\x81",
                                             "\xE2\x96\x81"
                                             "a",
                                             "b",
                                             "\xE2\x96\x81\xE2\x96\x81",
                                             "c\xE2\x96\x81",
                                             "\xC3\xA9",
                                             "."};
  add("ctc",
      tokenizer_json(word_level({"<pad>", "|", "a", "b", "'", ".", "s", " ", "n't", "<unk>"}),
                     {{"type", "CTC"}, {"pad_token", "<pad>"}, {"word_delimiter_token", "|"}, {"cleanup", true}}));
  add("bpe_suffix",
      tokenizer_json(word_level({"<s>", "</s>", "a</w>", "b", "ab</w>", "c", "</w>", ".</w>", "\xC3\xA9</w>"}),
                     {{"type", "BPEDecoder"}, {"suffix", "</w>"}}, specials));
  add("no_decoder", tokenizer_json(word_level({"<s>", "</s>", "a", "b", " ", "\xE4\xB8\xAD"}), nullptr, specials));
  for (const std::string scheme : {"always", "first", "never"})
    add("metaspace_" + scheme,
        tokenizer_json(
            word_level(sp_words),
            {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", scheme}, {"split", true}},
            specials));
  add("fuse_strip",
      tokenizer_json(
          word_level(sp_words),
          {{"type", "Sequence"},
           {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                                     {{"type", "Fuse"}},
                                     {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 1}}})}},
          specials));
  add("wordpiece",
      tokenizer_json(word_level({"[UNK]", "[CLS]", "a", "##b", "##", ".", "'", "s", "do", "not"}),
                     {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}, json::array({special("[CLS]", 1)})));
  // Byte fallback with all 256 byte tokens, so random ids make every kind of
  // broken and completed UTF-8.
  std::vector<std::string> bytes = {"<s>", "</s>",
                                    "\xE2\x96\x81"
                                    "x",
                                    "y"};
  for (int b = 0; b < 256; ++b) bytes.push_back(fmt::format("<0x{:02X}>", b));
  add("byte_fallback",
      tokenizer_json(
          word_level(bytes),
          {{"type", "Sequence"},
           {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                                     {{"type", "ByteFallback"}},
                                     {{"type", "Fuse"}},
                                     {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}},
          specials));
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Tokenizer>>> all_tokenizers() {
  auto a = fixture_tokenizers();
  auto b = synthetic_tokenizers();
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::vector<std::string> kTexts = {
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    "Gr\xC3\xBC\xC3\x9F"
    "e aus K\xC3\xB6ln, na\xC3\xAFve caf\xC3\xA9 \xE2\x80\x94 \xE2\x82\xAC"
    "5",
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88\xE3\x80\x81"
    "\xE4\xB8\xAD\xE6\x96\x87\xE6\x96\x87\xE6\x9C\xAC \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
    "emoji \xF0\x9F\x8E\x89\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 ok "
    "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD!",
    "e\xCC\x81 a\xCC\x88 o\xCC\x83\xCC\x81 \xCC\x81 combining",
    "\xD8\xA7\xD9\x84\xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A\xD8\xA9 \xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\x82\xE0\xA4\xA6\xE0\xA5"
    "\x80 \xD1\x80\xD1\x83\xD1\x81\xD1\x81\xD0\xBA\xD0\xB8\xD0\xB9",
    "  leading spaces,\ttabs\nand\n\nnewlines   ",
    "don't do not it's we've they're I'm . , ? !",
    "x",
    "",
};

TEST(DecodeStream, MultilingualEncodingsConcatenateToDecode) {
  const auto toks = fixture_tokenizers();
  ASSERT_GE(toks.size(), 15u);  // every fixture family with a tokenizer loads
  for (const auto& [name, tok] : toks) {
    for (const auto& text : kTexts) {
      const std::vector<int32_t> ids = tok->encode(text, /*add_special_tokens=*/true).ids;
      for (bool skip : {true, false}) {
        SCOPED_TRACE(name + " skip_special=" + std::to_string(skip) + " text: " + text);
        const Streamed s = stream(*tok, ids, skip);
        EXPECT_EQ(s.text, tok->decode(ids, skip));
        // Every piece is whole characters: no partial UTF-8, no stand-in for one.
        for (size_t k = 0; k + 1 < s.pieces.size(); ++k) {
          EXPECT_TRUE(uni::is_valid_utf8(s.pieces[k])) << "piece " << k;
          if (tok->decode(ids, skip).find(kReplacementChar) == std::string::npos) {
            EXPECT_EQ(s.pieces[k].find(kReplacementChar), std::string::npos) << "piece " << k;
          }
        }
      }
    }
  }
}

TEST(DecodeStream, RandomIdsConcatenateToDecode) {
  std::mt19937 rng(1234);
  for (const auto& [name, tok] : all_tokenizers()) {
    const auto vocab = static_cast<int32_t>(tok->vocab_size());
    ASSERT_GT(vocab, 0) << name;
    std::uniform_int_distribution<int32_t> any_id(0, vocab - 1);
    std::uniform_int_distribution<size_t> length(1, 48);
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<int32_t> ids(length(rng));
      for (auto& id : ids) id = any_id(rng);
      if (trial % 10 == 0) ids.push_back(vocab + 7);  // an unknown id is skipped, as decode skips it
      for (bool skip : {true, false}) {
        const std::string want = tok->decode(ids, skip);
        const Streamed s = stream(*tok, ids, skip);
        ASSERT_EQ(s.text, want) << name << " skip_special=" << skip << " trial " << trial << " ids "
                                << nlohmann::json(ids).dump();
      }
    }
  }
}

TEST(DecodeStream, ByteFallbackBytesAreHeldUntilTheCharacterIsComplete) {
  auto tok = Tokenizer::from_folder(fixture_dir("llama"));
  std::vector<int32_t> euro;
  for (const char* b : {"<0xE2>", "<0x82>", "<0xAC>"}) {
    auto id = tok->token_to_id(b);
    ASSERT_TRUE(id) << b;
    euro.push_back(*id);
  }
  const std::vector<int32_t> hello = tok->encode("Hello", false).ids;
  DecodeStream ds(*tok, true);
  std::string before;
  for (int32_t id : hello) before += ds.step(id);
  EXPECT_EQ(before, "Hello");
  EXPECT_EQ(ds.step(euro[0]), "");
  EXPECT_EQ(ds.pending(), kReplacementChar);  // what decode() shows right now, not handed out
  EXPECT_EQ(ds.step(euro[1]), "");
  // Complete, but ByteFallback decodes a run of bytes as a whole: one more
  // invalid byte would turn all of it into U+FFFDs, so the run is final only
  // when a token that is not a byte ends it.
  EXPECT_EQ(ds.step(euro[2]), "");
  EXPECT_EQ(ds.pending(), "\xE2\x82\xAC");
  const std::vector<int32_t> world = tok->encode(" world", false).ids;
  std::string after;
  for (int32_t id : world) after += ds.step(id);
  after += ds.flush();
  EXPECT_EQ(after.substr(0, 3), "\xE2\x82\xAC");
  std::vector<int32_t> all = hello;
  all.insert(all.end(), euro.begin(), euro.end());
  all.insert(all.end(), world.begin(), world.end());
  EXPECT_EQ(before + after, tok->decode(all, true));

  // The run that a fourth, invalid byte spoils: every byte becomes U+FFFD.
  DecodeStream spoiled(*tok, true);
  std::string spoiled_text;
  for (int32_t id : euro) spoiled_text += spoiled.step(id);
  spoiled_text += spoiled.step(*tok->token_to_id("<0xC0>"));
  spoiled_text += spoiled.flush();
  EXPECT_EQ(spoiled_text, kReplacementChar + kReplacementChar + kReplacementChar + kReplacementChar);

  // Bytes that never complete come out at flush exactly as decode() spells them.
  DecodeStream broken(*tok, true);
  EXPECT_EQ(broken.step(euro[0]), "");
  EXPECT_EQ(broken.step(euro[1]), "");
  EXPECT_EQ(broken.flush(), tok->decode({euro[0], euro[1]}, true));
  EXPECT_EQ(tok->decode({euro[0], euro[1]}, true), kReplacementChar + kReplacementChar);
}

TEST(DecodeStream, ByteLevelCharacterSplitAcrossTokensComesOutWhole) {
  for (const std::string family : {"gpt2", "qwen2", "whisper"}) {
    auto tok = Tokenizer::from_folder(fixture_dir(family));
    // A character whose bytes the fixture's small vocabulary splits over tokens.
    std::string ch;
    std::vector<int32_t> ids;
    for (const std::string c : {"\xE2\x82\xAC", "\xF0\x9F\x8E\x89", "\xE6\x97\xA5", "\xC3\xA9"}) {
      ids = tok->encode("a" + c, false).ids;
      if (ids.size() >= 3) {
        ch = c;
        break;
      }
    }
    ASSERT_FALSE(ch.empty()) << family << ": no character is split over several tokens";
    SCOPED_TRACE(family + " ids " + nlohmann::json(ids).dump());
    DecodeStream ds(*tok, true);
    std::string out;
    for (size_t k = 0; k + 1 < ids.size(); ++k) {
      out += ds.step(ids[k]);
      EXPECT_EQ(out.find(kReplacementChar), std::string::npos);
      EXPECT_TRUE(uni::is_valid_utf8(out));
    }
    EXPECT_EQ(out, "a");  // none of the character's bytes before its last token
    EXPECT_EQ(ds.step(ids.back()), ch);
    EXPECT_EQ(ds.flush(), "");
  }
}

TEST(DecodeStream, SpecialTokensAreSkippedOrKept) {
  auto tok = Tokenizer::from_folder(fixture_dir("llama"));
  const std::vector<int32_t> ids = tok->encode("Hi there", true).ids;  // starts with <s>
  ASSERT_EQ(tok->id_to_token(ids[0]), "<s>");
  EXPECT_EQ(stream(*tok, ids, true).text, "Hi there");
  EXPECT_EQ(stream(*tok, ids, false).text, tok->decode(ids, false));
  EXPECT_EQ(stream(*tok, ids, false).pieces[0], "<s>");
}

TEST(DecodeStream, MetaspaceDropsOnlyTheFirstLeadingSpace) {
  auto tok = Tokenizer::from_folder(fixture_dir("t5"));
  const std::vector<int32_t> ids = tok->encode("one two three", false).ids;
  const Streamed s = stream(*tok, ids, true);
  EXPECT_EQ(s.text, "one two three");
  EXPECT_EQ(s.text, tok->decode(ids, true));
}

TEST(DecodeStream, FlushStartsOver) {
  auto tok = Tokenizer::from_folder(fixture_dir("bert"));
  const std::vector<int32_t> ids = tok->encode("hello world", false).ids;
  DecodeStream ds(*tok, true);
  std::string first;
  for (int32_t id : ids) first += ds.step(id);
  first += ds.flush();
  std::string second;
  for (int32_t id : ids) second += ds.step(id);
  second += ds.flush();
  EXPECT_EQ(first, tok->decode(ids, true));
  EXPECT_EQ(second, first);
}

}  // namespace
}  // namespace ia::tok::test
