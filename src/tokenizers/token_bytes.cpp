#include "tokenizers/token_bytes.h"

#include <cctype>

#include "tokenizers/byte_level.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

bool is_special(const Tokenizer& t, int32_t id) {
  return t.decode({id}, true).empty() && !t.decode({id}, false).empty();
}

// A token that decodes to one ASCII letter alone and twice in a row: what every other token is
// decoded after.
std::optional<int32_t> find_anchor(const Tokenizer& t, int32_t vocab) {
  for (int32_t id = 0; id < vocab; ++id) {
    const std::string one = t.decode({id}, false);
    if (one.size() == 1 && std::isalpha(static_cast<unsigned char>(one[0])) && t.decode({id, id}, false) == one + one)
      return id;
  }
  return std::nullopt;
}

std::optional<std::string> raw_bytes(const std::string& token) {
  // <0xNN>: byte fallback.
  if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>') {
    try {
      return std::string(1, static_cast<char>(std::stoi(token.substr(3, 2), nullptr, 16)));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  // GPT-2's printable stand-ins for bytes.
  std::string out;
  for (size_t i = 0; i < token.size();) {
    size_t len = 1;
    const auto b = unicode_to_byte(uni::decode(token, i, &len));
    if (!b) return std::nullopt;
    out.push_back(static_cast<char>(*b));
    i += len;
  }
  return out;
}

}  // namespace

std::vector<std::optional<std::string>> token_bytes(const Tokenizer& t) {
  const auto vocab = static_cast<int32_t>(t.vocab_size());
  std::vector<std::optional<std::string>> out(static_cast<size_t>(vocab));
  const std::optional<int32_t> anchor = find_anchor(t, vocab);
  const std::string anchor_text = anchor ? t.decode({*anchor}, false) : std::string();
  for (int32_t id = 0; id < vocab; ++id) {
    const std::optional<std::string> token = t.id_to_token(id);
    if (!token || is_special(t, id)) continue;
    std::string text = anchor ? t.decode({*anchor, id}, false) : t.decode({id}, false);
    if (text.compare(0, anchor_text.size(), anchor_text) == 0) text.erase(0, anchor_text.size());
    // A piece of a character decodes to U+FFFD; its raw bytes are what it adds.
    if (text.find(kReplacement) != std::string::npos && token->find(kReplacement) == std::string::npos) {
      if (auto raw = raw_bytes(*token)) text = std::move(*raw);
    }
    out[static_cast<size_t>(id)] = std::move(text);
  }
  return out;
}

}  // namespace ia::tok
