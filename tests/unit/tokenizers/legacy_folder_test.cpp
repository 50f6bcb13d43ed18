// Folders without tokenizer.json. Each legacy folder is written from a
// fixture's own vocabulary (vocab.txt from BERT's, vocab.json + merges.txt
// from GPT-2's, a SentencePiece tokenizer.model from T5's Unigram pieces) and
// must tokenize the fixture cases exactly like the tokenizer.json path.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "tok_test_util.h"
#include "tokenizers/tokenizer.h"

namespace ia::tok::test {
namespace {

namespace fs = std::filesystem;

void copy_config(const std::string& family, const fs::path& dir) {
  fs::copy_file(fixture_dir(family) + "/tokenizer_config.json", dir / "tokenizer_config.json");
}

void expect_same_on_cases(const std::string& family, const Tokenizer& legacy, bool offsets_and_tokens = true) {
  auto ref = Tokenizer::from_file(fixture_dir(family) + "/tokenizer.json");
  const json cases = read_json(fixture_dir(family) + "/tokenizer_cases.json");
  for (const auto& c : cases["cases"]) {
    const std::string text = c["text"];
    SCOPED_TRACE(family + ": '" + text + "'");
    const auto a = legacy.encode(text), b = ref->encode(text);
    EXPECT_EQ(a.ids, c["ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(a.ids, b.ids);
    if (offsets_and_tokens) {
      EXPECT_EQ(a.tokens, b.tokens);
      EXPECT_EQ(a.offsets, b.offsets);
    }
    EXPECT_EQ(legacy.decode(a.ids, true), c["decoded"].get<std::string>());
  }
  for (const auto& c : cases.value("pairs", json::array())) {
    const auto a = legacy.encode_pair(c["a"].get<std::string>(), c["b"].get<std::string>());
    EXPECT_EQ(a.ids, c["ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(a.type_ids, c["type_ids"].get<std::vector<int32_t>>());
  }
}

TEST(LegacyFolders, BertVocabTxt) {
  ScratchDir dir("ia_legacy_bert");
  const json tj = read_json(fixture_dir("bert") + "/tokenizer.json");
  std::vector<std::string> by_id(tj["model"]["vocab"].size());
  for (const auto& [tok, id] : tj["model"]["vocab"].items()) by_id.at(id.get<size_t>()) = tok;
  std::string txt;
  for (const auto& t : by_id) txt += t + "\n";
  write_file(dir.path() / "vocab.txt", txt);
  copy_config("bert", dir.path());
  auto tok = Tokenizer::from_folder(dir.path().string());
  expect_same_on_cases("bert", *tok);
  EXPECT_EQ(tok->vocab_size(), by_id.size());
}

TEST(LegacyFolders, Gpt2VocabJsonAndMerges) {
  ScratchDir dir("ia_legacy_gpt2");
  const json tj = read_json(fixture_dir("gpt2") + "/tokenizer.json");
  write_file(dir.path() / "vocab.json", tj["model"]["vocab"].dump());
  std::string merges = "#version: 0.2\n";
  for (const auto& m : tj["model"]["merges"]) {
    merges += (m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>()) + "\n";
  }
  write_file(dir.path() / "merges.txt", merges);
  copy_config("gpt2", dir.path());
  auto tok = Tokenizer::from_folder(dir.path().string());
  expect_same_on_cases("gpt2", *tok);
}

// ---- a tokenizer.model written with the protobuf wire format by hand

void varint(std::string& out, uint64_t v) {
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (v);
}
void field_varint(std::string& out, int field, int64_t v) {
  varint(out, static_cast<uint64_t>(field) << 3);
  varint(out, static_cast<uint64_t>(v));
}
void field_bytes(std::string& out, int field, const std::string& bytes) {
  varint(out, (static_cast<uint64_t>(field) << 3) | 2);
  varint(out, bytes.size());
  out += bytes;
}
void field_float(std::string& out, int field, float f) {
  varint(out, (static_cast<uint64_t>(field) << 3) | 5);
  char b[4];
  std::memcpy(b, &f, 4);
  out.append(b, 4);
}

// ModelProto from T5's Unigram vocabulary: <pad>/</s> control, <unk> unknown,
// sentinels user-defined; no character normalization ("identity").
std::string t5_model_proto() {
  const json tj = read_json(fixture_dir("t5") + "/tokenizer.json");
  std::string proto;
  int id = 0;
  for (const auto& e : tj["model"]["vocab"]) {
    const std::string piece = e[0];
    int type = 1;  // NORMAL
    if (piece == "<pad>" || piece == "</s>") type = 3;
    if (piece == "<unk>") type = 2;
    if (piece.rfind("<extra_id_", 0) == 0) type = 4;
    std::string sp;
    field_bytes(sp, 1, piece);
    field_float(sp, 2, static_cast<float>(e[1].get<double>()));
    field_varint(sp, 3, type);
    field_bytes(proto, 1, sp);
    ++id;
  }
  std::string trainer;
  field_varint(trainer, 3, 1);  // UNIGRAM
  field_varint(trainer, 4, id);
  field_varint(trainer, 40, 2);   // unk
  field_varint(trainer, 41, -1);  // no bos
  field_varint(trainer, 42, 1);   // eos
  field_varint(trainer, 43, 0);   // pad
  field_bytes(proto, 2, trainer);
  std::string norm;
  field_bytes(norm, 1, "identity");
  field_varint(norm, 3, 1);
  field_varint(norm, 4, 1);
  field_varint(norm, 5, 1);
  field_bytes(proto, 3, norm);
  return proto;
}

TEST(LegacyFolders, SentencePieceModel) {
  ScratchDir dir("ia_legacy_t5");
  write_file(dir.path() / "tokenizer.model", t5_model_proto());
  copy_config("t5", dir.path());
  auto spm = Tokenizer::from_folder(dir.path().string());
  auto ref = Tokenizer::from_file(fixture_dir("t5") + "/tokenizer.json");
  // This model carries no normalization rules (T5's real one has NFKC in its
  // charsmap), so only cases that NFKC, Nmt and space trimming leave as they
  // are can be compared; they must match exactly. One more is left out on
  // purpose: ":::" scores the same as ":" + "::" and "::" + ":", and
  // libsentencepiece breaks that Viterbi tie the other way from HF.
  const json cases = read_json(fixture_dir("t5") + "/tokenizer_cases.json");
  size_t compared = 0;
  for (const auto& c : cases["cases"]) {
    const std::string text = c["text"];
    NormalizedString n(text);
    n.nfkc();
    bool plain = !text.empty() && n.get() == text && text.front() != ' ' && text.back() != ' ' &&
                 text.find("  ") == std::string::npos;
    for (unsigned char ch : text) plain = plain && ch >= 0x20;
    for (const char* nmt_space : {"\xE2\x80\x8B", "\xE2\x80\x8C", "\xE2\x80\x8D", "\xE2\x80\x8E", "\xE2\x80\x8F"}) {
      plain = plain && text.find(nmt_space) == std::string::npos;
    }
    plain = plain && text.find(":::") == std::string::npos;
    if (!plain) continue;
    ++compared;
    SCOPED_TRACE("t5 spm: '" + text + "'");
    const auto e = spm->encode(text);
    EXPECT_EQ(e.ids, c["ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(spm->decode(e.ids, true), c["decoded"].get<std::string>());
    EXPECT_EQ(spm->decode(e.ids, false), c["decoded_with_special"].get<std::string>());
  }
  EXPECT_GE(compared, 15u);
  for (const auto& c : cases["pairs"]) {
    if (c["a"] == "") continue;
    EXPECT_EQ(spm->encode_pair(c["a"].get<std::string>(), c["b"].get<std::string>()).ids,
              c["ids"].get<std::vector<int32_t>>());
  }
  EXPECT_EQ(spm->token_to_id("</s>"), 1);
  EXPECT_EQ(spm->vocab_size(), ref->vocab_size());
}

TEST(LegacyFolders, ErrorsAreClear) {
  ScratchDir dir("ia_legacy_bad");
  EXPECT_THROW(Tokenizer::from_folder(dir.path().string()), ia::Error);
  try {
    Tokenizer::from_folder(dir.path().string());
  } catch (const ia::Error& e) {
    EXPECT_EQ(e.kind(), ia::ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
  }
  write_file(dir.path() / "tokenizer.model", "not a protobuf at all");
  try {
    Tokenizer::from_folder(dir.path().string());
    ADD_FAILURE() << "garbage tokenizer.model loaded";
  } catch (const ia::Error& e) {
    EXPECT_EQ(e.kind(), ia::ErrorKind::Corrupt);
    EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
  }
  write_file(dir.path() / "vocab.json", "{not json");
  write_file(dir.path() / "merges.txt", "");
  EXPECT_THROW(Tokenizer::from_folder(dir.path().string()), ia::Error);
  write_file(dir.path() / "vocab.json", "{\"a\": 0}");
  write_file(dir.path() / "merges.txt", "#version: 0.2\na b\n");
  EXPECT_THROW(Tokenizer::from_folder(dir.path().string()), ia::Error);  // merge uses a token not in the vocab
}

// added_tokens_decoder keys are token ids: a whole non-negative decimal
// integer. Anything else ("12abc" once loaded as id 12) is a Corrupt config
// named with the file and the key.
TEST(LegacyFolders, AddedTokensDecoderKeysMustBeWholeIds) {
  ScratchDir dir("ia_legacy_decoder_keys");
  write_file(dir.path() / "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
  auto config_with_key = [&](const std::string& key) {
    json cfg = {{"added_tokens_decoder", {{key, {{"content", "<extra>"}, {"special", true}}}}}};
    write_file(dir.path() / "tokenizer_config.json", cfg.dump());
  };
  config_with_key("7");
  auto tok = Tokenizer::from_folder(dir.path().string());
  ASSERT_TRUE(tok->token_to_id("<extra>").has_value());
  EXPECT_EQ(*tok->token_to_id("<extra>"), 7);
  for (const std::string key : {"12abc", "-1", "+7", " 7", "7 ", "0x7", "7.0", "", "99999999999999999999"}) {
    SCOPED_TRACE("key '" + key + "'");
    config_with_key(key);
    try {
      Tokenizer::from_folder(dir.path().string());
      ADD_FAILURE() << "accepted added_tokens_decoder key '" << key << "'";
    } catch (const ia::Error& e) {
      EXPECT_EQ(e.kind(), ia::ErrorKind::Corrupt);
      const std::string msg = e.what();
      EXPECT_NE(msg.find((dir.path() / "tokenizer_config.json").string()), std::string::npos) << msg;
      EXPECT_NE(msg.find("'" + key + "'"), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace ia::tok::test
