#include "tokenizers/ctc_tokenizer.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <optional>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/bounded_json.h"
#include "core/error.h"
#include "tokenizers/input_limits.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

ordered_json read_object(const fs::path& p, bool required) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) {
    if (required) fail(ErrorKind::NotFound, "{}: no such file (a CTC tokenizer needs it)", p.string());
    return ordered_json::object();
  }
  JsonLimits limits;
  limits.max_bytes = kMaxTokenizerConfigBytes;
  ordered_json j =
      parse_ordered_json_bounded(read_bounded_file(p.string(), kMaxTokenizerConfigBytes), p.string(), limits);
  if (!j.is_object()) fail(ErrorKind::Corrupt, "{}: must hold a JSON object", p.string());
  return j;
}

// A special token as tokenizer_config.json / special_tokens_map.json write it: a string or an
// AddedToken object {"content": ...}; nullopt when absent or null.
std::optional<std::string> token_value(const ordered_json& j, const char* key, const fs::path& file) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  fail(ErrorKind::Corrupt, "{}: \"{}\" must be a string or an object with a string \"content\"", file.string(), key);
}

// Python's str.isspace, for the ends str.strip() removes: Unicode White_Space plus the
// information separators U+001C..U+001F.
bool python_space(char32_t c) {
  return uni::is_whitespace(c) || (c >= 0x1C && c <= 0x1F);
}

std::string strip(const std::string& s) {
  size_t begin = 0, end = s.size();
  while (begin < end) {
    size_t len = 0;
    const char32_t c = uni::decode(s, begin, &len);
    if (!python_space(c)) break;
    begin += len;
  }
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && uni::is_utf8_continuation(static_cast<unsigned char>(s[start]))) --start;
    size_t len = 0;
    const char32_t c = uni::decode(s, start, &len);
    if (!python_space(c)) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

std::string lower(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    const char32_t c = uni::decode(s, i, &len);
    char32_t low[3];
    const int n = uni::to_lower_full(c, low);
    for (int k = 0; k < n; ++k) uni::append_utf8(out, low[k]);
    i += len;
  }
  return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

// transformers' PreTrainedTokenizerBase.clean_up_tokenization.
std::string clean_up_tokenization(std::string s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) replace_all(s, from, to);
  return s;
}

int64_t parse_id(const std::string& key, const fs::path& file) {
  int64_t id = -1;
  const bool digits =
      !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  auto [ptr, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
  if (!digits || ec != std::errc() || ptr != key.data() + key.size())
    fail(ErrorKind::Corrupt, "{}: added_tokens_decoder key '{}' is not a token id", file.string(), key);
  return id;
}

}  // namespace

CtcTokenizer::CtcTokenizer(std::unordered_map<std::string, int64_t> vocab, CtcTokenizerOptions options,
                           std::unordered_map<int64_t, std::string> added_tokens)
    : encoder_(std::move(vocab)), added_(std::move(added_tokens)), options_(std::move(options)) {
  for (const auto& [token, id] : encoder_) decoder_[id] = token;
}

std::shared_ptr<CtcTokenizer> CtcTokenizer::load(const std::string& dir) {
  const fs::path root(dir);
  const fs::path config_path = root / "tokenizer_config.json", map_path = root / "special_tokens_map.json";
  const fs::path vocab_path = root / "vocab.json";
  const ordered_json config = read_object(config_path, false);
  const ordered_json map = read_object(map_path, false);
  const ordered_json vocab_json = read_object(vocab_path, true);

  CtcTokenizerOptions o;
  auto special = [&](const char* key, std::string& into) {
    if (auto v = token_value(config, key, config_path)) {
      into = *v;
    } else if (auto m = token_value(map, key, map_path)) {
      into = *m;
    }
  };
  special("pad_token", o.pad_token);
  special("unk_token", o.unk_token);
  special("bos_token", o.bos_token);
  special("eos_token", o.eos_token);
  special("word_delimiter_token", o.word_delimiter_token);
  if (auto v = token_value(config, "replace_word_delimiter_char", config_path)) o.replace_word_delimiter_char = *v;
  auto flag = [&](const char* key, bool& into) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return;
    if (!it->is_boolean()) fail(ErrorKind::Corrupt, "{}: \"{}\" must be true or false", config_path.string(), key);
    into = it->get<bool>();
  };
  flag("do_lower_case", o.do_lower_case);
  flag("clean_up_tokenization_spaces", o.clean_up_tokenization_spaces);
  for (const auto* j : {&config, &map}) {
    for (const char* key : {"additional_special_tokens", "extra_special_tokens"}) {
      auto it = j->find(key);
      if (it == j->end() || !it->is_array()) continue;
      for (const auto& t : *it) {
        if (t.is_string()) o.additional_special_tokens.push_back(t.get<std::string>());
        if (t.is_object() && t.contains("content") && t["content"].is_string())
          o.additional_special_tokens.push_back(t["content"].get<std::string>());
      }
    }
  }

  // A vocabulary per language (MMS) is chosen by target_lang.
  const ordered_json* entries = &vocab_json;
  const bool nested = !vocab_json.empty() && vocab_json.begin()->is_object();
  if (nested) {
    auto lang = config.find("target_lang");
    if (lang == config.end() || !lang->is_string())
      fail(ErrorKind::Corrupt, "{}: a vocabulary per language, but {} names no target_lang", vocab_path.string(),
           config_path.string());
    auto it = vocab_json.find(lang->get<std::string>());
    if (it == vocab_json.end() || !it->is_object())
      fail(ErrorKind::Corrupt, "{}: no vocabulary for target_lang \"{}\"", vocab_path.string(),
           lang->get<std::string>());
    entries = &*it;
  }
  if (entries->size() > kMaxVocabEntries)
    fail(ErrorKind::Corrupt, "{}: {} entries (at most {})", vocab_path.string(), entries->size(), kMaxVocabEntries);
  std::unordered_map<std::string, int64_t> vocab;
  for (auto it = entries->begin(); it != entries->end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
      fail(ErrorKind::Corrupt, "{}: the id of \"{}\" is not a non-negative integer", vocab_path.string(), it.key());
    vocab[it.key()] = it.value().get<int64_t>();
  }
  std::unordered_map<int64_t, std::string> added;
  if (auto it = config.find("added_tokens_decoder"); it != config.end() && it->is_object()) {
    if (it->size() > kMaxAddedTokens)
      fail(ErrorKind::Corrupt, "{}: {} added tokens (at most {})", config_path.string(), it->size(), kMaxAddedTokens);
    for (auto t = it->begin(); t != it->end(); ++t) {
      const int64_t id = parse_id(t.key(), config_path);
      if (t.value().is_object() && t.value().contains("content") && t.value()["content"].is_string())
        added[id] = t.value()["content"].get<std::string>();
    }
  }
  auto tok = std::make_shared<CtcTokenizer>(std::move(vocab), std::move(o), std::move(added));
  // The decoder in file order: of tokens sharing an id the last one decodes it, as transformers'
  // {v: k for k, v in vocab.items()} (the constructor's map order is arbitrary).
  for (auto it = entries->begin(); it != entries->end(); ++it) tok->decoder_[it.value().get<int64_t>()] = it.key();
  return tok;
}

const std::string& CtcTokenizer::id_to_token(int64_t id) const {
  if (auto it = decoder_.find(id); it != decoder_.end()) return it->second;
  if (auto it = added_.find(id); it != added_.end()) return it->second;
  return options_.unk_token;
}

int64_t CtcTokenizer::token_to_id(const std::string& token) const {
  auto it = encoder_.find(token);
  return it == encoder_.end() ? -1 : it->second;
}

std::string CtcTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens, bool group_tokens) const {
  std::unordered_set<std::string> specials;
  if (skip_special_tokens) {
    specials = {options_.pad_token, options_.unk_token, options_.bos_token, options_.eos_token};
    for (const auto& t : options_.additional_special_tokens) specials.insert(t);
    specials.erase(options_.word_delimiter_token);
  }
  std::string text;
  const std::string* prev = nullptr;
  for (int64_t id : ids) {
    const std::string& token = id_to_token(id);
    if (skip_special_tokens && specials.count(token)) continue;
    // Collapse repeats (CTC grouping), then drop the blank.
    if (group_tokens && prev && *prev == token) continue;
    prev = &token;
    if (token == options_.pad_token) continue;
    text += token == options_.word_delimiter_token ? options_.replace_word_delimiter_char : token;
  }
  text = strip(text);
  if (options_.do_lower_case) text = lower(text);
  if (options_.clean_up_tokenization_spaces) text = clean_up_tokenization(std::move(text));
  return text;
}

}  // namespace ia::tok
