#include "tokenizers/decoders.h"

#include "tokenizers/byte_level.h"
#include "tokenizers/json_util.h"
#include "tokenizers/regex.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

std::string Decoder::decode(std::vector<std::string> tokens) const {
  decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

// HF's cleanup of tokenization spaces, applied to each token separately.
void cleanup(std::string& t) {
  replace_all(t, " .", ".");
  replace_all(t, " ?", "?");
  replace_all(t, " !", "!");
  replace_all(t, " ,", ",");
  replace_all(t, " ' ", "'");
  replace_all(t, " n't", "n't");
  replace_all(t, " 'm", "'m");
  replace_all(t, " do not", " don't");
  replace_all(t, " 's", "'s");
  replace_all(t, " 've", "'ve");
  replace_all(t, " 're", "'re");
}

class WordPieceDecoder final : public Decoder {
 public:
  explicit WordPieceDecoder(const nlohmann::json& j) {
    prefix_ = js::str_or(j, "prefix", "decoder WordPiece", "##");
    cleanup_ = js::boolean_or(j, "cleanup", "decoder WordPiece", true);
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      auto& t = tokens[i];
      if (i != 0) {
        if (!prefix_.empty() && t.compare(0, prefix_.size(), prefix_) == 0) {
          t.erase(0, prefix_.size());
        } else {
          t.insert(0, " ");
        }
      }
      if (cleanup_) cleanup(t);
    }
  }

 private:
  std::string prefix_;
  bool cleanup_ = true;
};

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      const size_t mark = bytes.size();
      bool ok = true;
      for (size_t i = 0; i < t.size() && ok;) {
        size_t len = 1;
        const auto b = unicode_to_byte(uni::decode(t, i, &len));
        i += len;
        if (b) {
          bytes.push_back(static_cast<char>(*b));
        } else {
          ok = false;
        }
      }
      // A token with chars outside the byte table is kept as its own bytes.
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, uni::sanitize_utf8(bytes));
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  explicit ReplaceDecoder(const nlohmann::json& j)
      : pattern_(Pattern::from_json(js::field(j, "pattern", "decoder Replace"), "decoder Replace")),
        to_(js::str(j, "content", "decoder Replace")) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      const Matches m = pattern_.find_matches(t);
      std::string out;
      for (const auto& [range, hit] : m) {
        if (hit) {
          out += to_;
        } else {
          out.append(t, range.first, range.second - range.first);
        }
      }
      t = std::move(out);
    }
  }

 private:
  Pattern pattern_;
  std::string to_;
};

// Subword BPE with an end-of-word suffix (CLIP-style): the suffix becomes a
// space, except on the last token where it is dropped.
class BpeDecoder final : public Decoder {
 public:
  explicit BpeDecoder(const nlohmann::json& j) { suffix_ = js::str_or(j, "suffix", "decoder BPEDecoder", "</w>"); }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
  }

 private:
  std::string suffix_;
};

// CTC output (Wav2Vec2): collapse repeats, drop the blank (pad) token, and
// with cleanup turn the word delimiter into spaces.
class CtcDecoder final : public Decoder {
 public:
  explicit CtcDecoder(const nlohmann::json& j) {
    const std::string what = "decoder CTC";
    pad_ = js::str_or(j, "pad_token", what, "<pad>");
    delimiter_ = js::str_or(j, "word_delimiter_token", what, "|");
    cleanup_ = js::boolean_or(j, "cleanup", what, true);
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 && tokens[i] == tokens[i - 1]) continue;
      std::string t = tokens[i];
      replace_all(t, pad_, "");
      if (cleanup_) {
        cleanup(t);
        replace_all(t, delimiter_, " ");
      }
      if (!t.empty()) out.push_back(std::move(t));
    }
    tokens = std::move(out);
  }

 private:
  std::string pad_, delimiter_;
  bool cleanup_ = true;
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder final : public Decoder {
 public:
  explicit StripDecoder(const nlohmann::json& j) {
    const std::string what = "decoder Strip";
    content_ = js::str(j, "content", what);
    if (uni::char_count(content_) != 1) fail(ErrorKind::Corrupt, "{}: content must be one character", what);
    start_ = static_cast<size_t>(std::max<int64_t>(0, js::integer_or(j, "start", what, 0)));
    stop_ = static_cast<size_t>(std::max<int64_t>(0, js::integer_or(j, "stop", what, 0)));
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      size_t n = 0;
      while (n < start_ && t.compare(0, content_.size(), content_) == 0) {
        t.erase(0, content_.size());
        ++n;
      }
      n = 0;
      while (n < stop_ && t.size() >= content_.size() &&
             t.compare(t.size() - content_.size(), content_.size(), content_) == 0) {
        t.erase(t.size() - content_.size());
        ++n;
      }
    }
  }

 private:
  std::string content_;
  size_t start_ = 0, stop_ = 0;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    // Runs of <0xNN> tokens are joined into bytes; invalid UTF-8 becomes one
    // U+FFFD per byte, as HF does.
    std::vector<std::string> out;
    std::string pending;
    size_t pending_count = 0;
    auto flush = [&] {
      if (pending_count == 0) return;
      if (uni::is_valid_utf8(pending)) {
        out.push_back(pending);
      } else {
        for (size_t k = 0; k < pending_count; ++k) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
      pending_count = 0;
    };
    for (auto& t : tokens) {
      unsigned v = 0;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && parse_hex(t[3], t[4], &v)) {
        pending.push_back(static_cast<char>(v));
        ++pending_count;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static bool parse_hex(char a, char b, unsigned* v) {
    auto h = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    const int x = h(a), y = h(b);
    if (x < 0 || y < 0) return false;
    *v = static_cast<unsigned>(x * 16 + y);
    return true;
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  explicit MetaspaceDecoder(const nlohmann::json& j) {
    const std::string what = "decoder Metaspace";
    replacement_ = js::str_or(j, "replacement", what, "\xE2\x96\x81");
    std::string scheme = js::str_or(j, "prepend_scheme", what, "always");
    if (!js::opt(j, "prepend_scheme") && !js::boolean_or(j, "add_prefix_space", what, true)) scheme = "never";
    prepend_ = scheme != "never";
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      auto& t = tokens[i];
      // HF drops every replacement char of the first token when it prepends one.
      replace_all(t, replacement_, i == 0 && prepend_ ? "" : " ");
    }
  }

 private:
  std::string replacement_;
  bool prepend_ = true;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(const nlohmann::json& j) {
    js::SequenceNestingGuard nesting("decoder Sequence");
    for (const auto& d : js::array(j, "decoders", "decoder Sequence")) {
      if (auto p = make_decoder(d)) parts_.push_back(std::move(p));
    }
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = js::type_of(j, "decoder");
  if (type == "WordPiece") return std::make_unique<WordPieceDecoder>(j);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(j);
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") return std::make_unique<StripDecoder>(j);
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Metaspace") return std::make_unique<MetaspaceDecoder>(j);
  if (type == "Sequence") return std::make_unique<SequenceDecoder>(j);
  if (type == "BPEDecoder") return std::make_unique<BpeDecoder>(j);
  if (type == "CTC") return std::make_unique<CtcDecoder>(j);
  fail(ErrorKind::Unsupported, "decoder: type '{}' is not supported", type);
}

}  // namespace ia::tok
