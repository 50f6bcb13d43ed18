// Legacy (pre-tokenizer.json) folders. BERT and GPT-2 files become the
// tokenizer.json that transformers' BertConverter / GPT2Converter would
// write, then load through the normal parser; SentencePiece models run
// through libsentencepiece with the special tokens and template from
// tokenizer_config.json.
#include "tokenizers/legacy_loader.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <unordered_set>

#include <sentencepiece_processor.h>
#include <nlohmann/json.hpp>

#include "core/bounded_json.h"
#include "core/error.h"
#include "tokenizers/decoders.h"
#include "tokenizers/input_limits.h"
#include "tokenizers/model.h"
#include "tokenizers/sentencepiece_model.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_text(const fs::path& p) {
  return read_bounded_file(p.string(), kMaxTokenizerConfigBytes);
}

json parse_bounded(const fs::path& p) {
  JsonLimits limits;
  limits.max_bytes = kMaxTokenizerConfigBytes;
  return parse_json_bounded(read_text(p), p.string(), limits);
}

json read_json_or_empty(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return json::object();
  json j = parse_bounded(p);
  if (!j.is_object()) fail(ErrorKind::Corrupt, "'{}' must hold a JSON object", p.string());
  return j;
}

// tokenizer_config.json + special_tokens_map.json (the config wins).
struct Config {
  json cfg;
  json map;
  std::optional<std::string> special(const char* key) const {
    for (const json* j : {&cfg, &map}) {
      auto it = j->find(key);
      if (it == j->end() || it->is_null()) continue;
      if (it->is_string()) return it->get<std::string>();
      if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
        return (*it)["content"].get<std::string>();
      }
    }
    return std::nullopt;
  }
  std::string special_or(const char* key, const std::string& def) const { return special(key).value_or(def); }
  bool flag(const char* key, bool def) const {
    auto it = cfg.find(key);
    return it != cfg.end() && it->is_boolean() ? it->get<bool>() : def;
  }
  std::string str(const char* key) const {
    auto it = cfg.find(key);
    return it != cfg.end() && it->is_string() ? it->get<std::string>() : std::string();
  }
  std::vector<std::string> additional() const {
    std::vector<std::string> out;
    for (const json* j : {&cfg, &map}) {
      auto it = j->find("additional_special_tokens");
      if (it == j->end() || !it->is_array()) continue;
      for (const auto& t : *it) {
        if (t.is_string()) out.push_back(t.get<std::string>());
        if (t.is_object() && t.contains("content") && t["content"].is_string()) out.push_back(t["content"]);
      }
      if (!out.empty()) break;
    }
    return out;
  }
};

json added_token(const std::string& content, int64_t id, bool special) {
  return json{{"id", id},        {"content", content},     {"single_word", false}, {"lstrip", false},
              {"rstrip", false}, {"normalized", !special}, {"special", special}};
}

// An added_tokens_decoder key: the token id as a whole non-negative decimal
// integer ("12abc", "-1", "+1", " 1" and "0x1" are not ids).
int64_t decoder_key_id(const fs::path& config, const std::string& key) {
  int64_t id = -1;
  const char* end = key.data() + key.size();
  const bool digits =
      !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  auto [ptr, ec] = std::from_chars(key.data(), end, id);
  if (!digits || ec != std::errc() || ptr != end) {
    fail(ErrorKind::Corrupt, "'{}': added_tokens_decoder key '{}' is not a token id (a non-negative decimal integer)",
         config.string(), key);
  }
  return id;
}

// Special tokens as added tokens: added_tokens_decoder entries first (they
// carry ids and flags), then the named special tokens, then added_tokens.json.
// A token missing from the vocab gets the next free id, as transformers does.
json collect_added(const Config& c, const fs::path& dir, const std::vector<std::string>& specials,
                   const std::function<std::optional<int64_t>(const std::string&)>& vocab_id, int64_t next_id) {
  json out = json::array();
  std::unordered_set<std::string> seen;
  if (auto it = c.cfg.find("added_tokens_decoder"); it != c.cfg.end() && it->is_object()) {
    std::map<int64_t, json> by_id;
    for (const auto& [key, v] : it->items()) {
      if (!v.is_object() || !v.contains("content") || !v["content"].is_string()) continue;
      const int64_t id = decoder_key_id(dir / "tokenizer_config.json", key);
      json t = added_token(v["content"], id, v.value("special", true));
      for (const char* f : {"single_word", "lstrip", "rstrip", "normalized"}) {
        if (v.contains(f) && v[f].is_boolean()) t[f] = v[f];
      }
      by_id[id] = t;
      next_id = std::max(next_id, id + 1);
    }
    for (auto& [id, t] : by_id) {
      seen.insert(t["content"].get<std::string>());
      out.push_back(std::move(t));
    }
  }
  auto add = [&](const std::string& content, std::optional<int64_t> id, bool special) {
    if (content.empty() || seen.count(content)) return;
    if (!id) id = vocab_id(content);
    if (!id) id = next_id++;
    seen.insert(content);
    out.push_back(added_token(content, *id, special));
  };
  for (const auto& s : specials) add(s, std::nullopt, true);
  const json extra = read_json_or_empty(dir / "added_tokens.json");
  for (const auto& [content, id] : extra.items()) {
    if (id.is_number_integer()) add(content, id.get<int64_t>(), false);
  }
  return out;
}

json special_entry(const std::string& tok, int64_t id) {
  return json{{"id", tok}, {"ids", json::array({id})}, {"tokens", json::array({tok})}};
}

json template_piece(const std::string& special_or_seq, int type_id, bool sequence) {
  if (sequence) return json{{"Sequence", {{"id", special_or_seq}, {"type_id", type_id}}}};
  return json{{"SpecialToken", {{"id", special_or_seq}, {"type_id", type_id}}}};
}

std::shared_ptr<Tokenizer> load_bert(const fs::path& dir, const Config& c) {
  // vocab.txt: one token per line, id = line number (later duplicates win).
  std::unordered_map<std::string, int64_t> vocab;
  {
    std::istringstream in(read_text(dir / "vocab.txt"));
    std::string line;
    int64_t id = 0;
    while (std::getline(in, line)) vocab[line] = id++;
  }
  json v = json::object();
  int64_t next = 0;
  for (const auto& [tok, id] : vocab) {
    if (!uni::is_valid_utf8(tok)) fail(ErrorKind::Corrupt, "vocab.txt: line {} is not valid UTF-8", id + 1);
    v[tok] = id;
    next = std::max(next, id + 1);
  }
  const std::string unk = c.special_or("unk_token", "[UNK]"), sep = c.special_or("sep_token", "[SEP]"),
                    cls = c.special_or("cls_token", "[CLS]"), pad = c.special_or("pad_token", "[PAD]"),
                    mask = c.special_or("mask_token", "[MASK]");
  std::vector<std::string> specials{pad, unk, cls, sep, mask};
  for (auto& a : c.additional()) specials.push_back(a);
  auto vocab_id = [&](const std::string& t) -> std::optional<int64_t> {
    auto it = vocab.find(t);
    return it == vocab.end() ? std::nullopt : std::optional<int64_t>(it->second);
  };
  json added = collect_added(c, dir, specials, vocab_id, next);
  auto id_of = [&](const std::string& t) -> int64_t {
    for (const auto& a : added) {
      if (a["content"] == t) return a["id"].get<int64_t>();
    }
    return vocab_id(t).value_or(0);
  };
  json strip = nullptr;
  if (auto it = c.cfg.find("strip_accents"); it != c.cfg.end() && it->is_boolean()) strip = *it;
  json j = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "BertNormalizer"},
        {"clean_text", true},
        {"handle_chinese_chars", c.flag("tokenize_chinese_chars", true)},
        {"strip_accents", strip},
        {"lowercase", c.flag("do_lower_case", true)}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"model",
       {{"type", "WordPiece"},
        {"unk_token", unk},
        {"continuing_subword_prefix", "##"},
        {"max_input_chars_per_word", 100},
        {"vocab", v}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         json::array({template_piece(cls, 0, false), template_piece("A", 0, true), template_piece(sep, 0, false)})},
        {"pair",
         json::array({template_piece(cls, 0, false), template_piece("A", 0, true), template_piece(sep, 0, false),
                      template_piece("B", 1, true), template_piece(sep, 1, false)})},
        {"special_tokens", {{cls, special_entry(cls, id_of(cls))}, {sep, special_entry(sep, id_of(sep))}}}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
  };
  return LegacyLoader::build(j, (dir / "vocab.txt").string(), nullptr, nullptr);
}

std::shared_ptr<Tokenizer> load_gpt2(const fs::path& dir, const Config& c) {
  json vocab = parse_bounded(dir / "vocab.json");
  if (!vocab.is_object()) fail(ErrorKind::Corrupt, "'{}' must map tokens to ids", (dir / "vocab.json").string());
  // merges.txt: "a b" per line after an optional "#version" header; blank lines ignored.
  json merges = json::array();
  {
    std::istringstream in(read_text(dir / "merges.txt"));
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (first && line.rfind("#version", 0) == 0) {
        first = false;
        continue;
      }
      first = false;
      if (line.empty()) continue;
      merges.push_back(line);
    }
  }
  int64_t next = 0;
  for (const auto& [tok, id] : vocab.items()) {
    if (id.is_number_integer()) next = std::max(next, id.get<int64_t>() + 1);
  }
  const std::string eot = "<|endoftext|>";
  const std::string bos = c.special_or("bos_token", eot), eos = c.special_or("eos_token", eot),
                    unk = c.special_or("unk_token", eot);
  std::vector<std::string> specials{bos, eos, unk};
  if (auto pad = c.special("pad_token")) specials.push_back(*pad);
  for (auto& a : c.additional()) specials.push_back(a);
  auto vocab_id = [&](const std::string& t) -> std::optional<int64_t> {
    auto it = vocab.find(t);
    if (it == vocab.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<int64_t>();
  };
  json added = collect_added(c, dir, specials, vocab_id, next);
  const bool prefix_space = c.flag("add_prefix_space", false);
  json post;
  if (c.flag("add_bos_token", false)) {
    int64_t bos_id = vocab_id(bos).value_or(0);
    for (const auto& a : added) {
      if (a["content"] == bos) bos_id = a["id"];
    }
    post = {{"type", "TemplateProcessing"},
            {"single", json::array({template_piece(bos, 0, false), template_piece("A", 0, true)})},
            {"pair",
             json::array({template_piece(bos, 0, false), template_piece("A", 0, true), template_piece("B", 1, true)})},
            {"special_tokens", {{bos, special_entry(bos, bos_id)}}}};
  } else {
    post = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  }
  json j = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"}, {"add_prefix_space", prefix_space}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"vocab", vocab},
        {"merges", merges}}},
      {"post_processor", post},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
  };
  return LegacyLoader::build(j, (dir / "vocab.json").string(), nullptr, nullptr);
}

std::shared_ptr<Tokenizer> load_sentencepiece(const fs::path& dir, const Config& c) {
  const std::string path = (dir / "tokenizer.model").string();
  auto model = std::make_unique<SentencePieceModel>(path);
  auto piece_id = [&](const std::string& t) -> std::optional<int64_t> {
    auto id = model->token_to_id(t);
    return id ? std::optional<int64_t>(*id) : std::nullopt;
  };
  auto spm_piece = [&](int id) -> std::optional<std::string> {
    if (id < 0) return std::nullopt;
    return model->id_to_token(id);
  };
  const auto& sp = *model->processor();
  const bool t5 = c.str("tokenizer_class").find("T5") != std::string::npos;
  std::optional<std::string> bos = c.special("bos_token"), eos = c.special("eos_token"), unk = c.special("unk_token"),
                             pad = c.special("pad_token");
  if (!bos && !t5) bos = spm_piece(sp.bos_id());
  if (!eos) eos = spm_piece(sp.eos_id());
  if (!unk) unk = spm_piece(sp.unk_id());
  if (!pad) pad = spm_piece(sp.pad_id());
  std::vector<std::string> specials;
  for (const auto& s : {pad, eos, unk, bos}) {
    if (s) specials.push_back(*s);
  }
  std::vector<std::string> extra = c.additional();
  // T5's <extra_id_N> sentinels follow the spm vocabulary in reverse order.
  int64_t next = static_cast<int64_t>(model->vocab_size());
  json added = json::array();
  if (t5 && extra.empty() && !c.cfg.contains("added_tokens_decoder")) {
    const int64_t n = c.cfg.value("extra_ids", int64_t{100});
    for (int64_t i = 0; i < n; ++i) {
      const std::string tok = "<extra_id_" + std::to_string(i) + ">";
      if (!piece_id(tok)) added.push_back(added_token(tok, next + n - 1 - i, true));
    }
    next += n;
  }
  for (auto& a : extra) specials.push_back(a);
  json rest = collect_added(c, dir, specials, piece_id, next);
  for (auto& a : rest) added.push_back(std::move(a));

  auto id_of = [&](const std::string& t) -> int64_t {
    for (const auto& a : added) {
      if (a["content"] == t) return a["id"].get<int64_t>();
    }
    return piece_id(t).value_or(0);
  };
  // T5 appends </s>; LLaMA-style models prepend <s> (add_bos_token / add_eos_token).
  const bool add_bos = bos && c.flag("add_bos_token", !t5);
  const bool add_eos = eos && c.flag("add_eos_token", t5);
  // single: [bos] A [eos]; pair: [bos] A [eos] [bos] B [eos], B's part typed 1 except for T5.
  json single = json::array(), pair = json::array(), special_tokens = json::object();
  auto part = [&](json& dst, const char* seq, int type_id) {
    if (add_bos) dst.push_back(template_piece(*bos, type_id, false));
    dst.push_back(template_piece(seq, type_id, true));
    if (add_eos) dst.push_back(template_piece(*eos, type_id, false));
  };
  part(single, "A", 0);
  part(pair, "A", 0);
  part(pair, "B", t5 ? 0 : 1);
  if (add_bos) special_tokens[*bos] = special_entry(*bos, id_of(*bos));
  if (add_eos) special_tokens[*eos] = special_entry(*eos, id_of(*eos));
  json j = {{"version", "1.0"},
            {"added_tokens", added},
            {"post_processor",
             {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", special_tokens}}}};
  std::unordered_set<std::string> verbatim;
  for (const auto& a : added) verbatim.insert(a["content"].get<std::string>());
  auto decoder = std::make_unique<SentencePieceDecoder>(model->processor(), std::move(verbatim));
  return LegacyLoader::build(j, path, std::move(model), std::move(decoder));
}

}  // namespace

std::shared_ptr<Tokenizer> LegacyLoader::build(const nlohmann::json& j, const std::string& source,
                                               std::unique_ptr<Model> model, std::unique_ptr<Decoder> decoder) {
  return Tokenizer::from_json(j, source, std::move(model), std::move(decoder));
}

std::shared_ptr<Tokenizer> LegacyLoader::load(const std::string& dir_str) {
  const fs::path dir(dir_str);
  std::error_code ec;
  Config c;
  c.cfg = read_json_or_empty(dir / "tokenizer_config.json");
  c.map = read_json_or_empty(dir / "special_tokens_map.json");
  if (fs::is_regular_file(dir / "vocab.txt", ec)) return load_bert(dir, c);
  if (fs::is_regular_file(dir / "vocab.json", ec) && fs::is_regular_file(dir / "merges.txt", ec))
    return load_gpt2(dir, c);
  if (fs::is_regular_file(dir / "tokenizer.model", ec)) return load_sentencepiece(dir, c);
  fail(ErrorKind::NotFound,
       "model folder '{}' has no tokenizer (looked for tokenizer.json, vocab.txt, vocab.json + merges.txt, "
       "tokenizer.model)",
       dir_str);
}

}  // namespace ia::tok
