#include "tokenizers/normalizers.h"

#include <string>
#include <vector>

#include "core/base64.h"
#include "tokenizers/byte_level.h"
#include "tokenizers/json_util.h"
#include "tokenizers/precompiled_charsmap.h"
#include "tokenizers/regex.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

namespace {

class BertNormalizer final : public Normalizer {
 public:
  explicit BertNormalizer(const nlohmann::json& j) {
    const std::string what = "normalizer BertNormalizer";
    clean_text_ = js::boolean_or(j, "clean_text", what, true);
    chinese_ = js::boolean_or(j, "handle_chinese_chars", what, true);
    lowercase_ = js::boolean_or(j, "lowercase", what, true);
    // strip_accents: null means "do what lowercase does" (the uncased BERT recipe).
    strip_accents_ = js::boolean_or(j, "strip_accents", what, lowercase_);
  }
  void normalize(NormalizedString& s) const override {
    if (clean_text_) {
      s.filter([](char32_t c) { return !(c == 0 || c == 0xFFFD || uni::is_bert_control(c)); });
      s.map([](char32_t c) { return uni::is_bert_whitespace(c) ? U' ' : c; });
    }
    if (chinese_) {
      bool any = false;
      const std::string& t = s.get();
      for (size_t i = 0; i < t.size() && !any;) {
        size_t len = 1;
        any = uni::is_chinese_char(uni::decode(t, i, &len));
        i += len;
      }
      if (any) {
        // Surround each CJK ideograph with spaces so it becomes its own word.
        std::vector<CharChange> dest;
        dest.reserve(t.size() * 2);
        for (size_t i = 0; i < t.size();) {
          size_t len = 1;
          const char32_t c = uni::decode(t, i, &len);
          i += len;
          if (uni::is_chinese_char(c)) {
            dest.emplace_back(U' ', 0);
            dest.emplace_back(c, 1);
            dest.emplace_back(U' ', 1);
          } else {
            dest.emplace_back(c, 0);
          }
        }
        s.transform(dest, 0);
      }
    }
    if (strip_accents_) {
      s.nfd();
      s.filter([](char32_t c) { return !uni::is_mark_nonspacing(c); });
    }
    if (lowercase_) s.lowercase();
  }

 private:
  bool clean_text_ = true, chinese_ = true, strip_accents_ = true, lowercase_ = true;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override { s.lowercase(); }
};

class UnicodeForm final : public Normalizer {
 public:
  explicit UnicodeForm(uni::NormForm f) : f_(f) {}
  void normalize(NormalizedString& s) const override {
    switch (f_) {
      case uni::NormForm::NFC: s.nfc(); break;
      case uni::NormForm::NFD: s.nfd(); break;
      case uni::NormForm::NFKC: s.nfkc(); break;
      case uni::NormForm::NFKD: s.nfkd(); break;
    }
  }

 private:
  uni::NormForm f_;
};

class StripAccents final : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.filter([](char32_t c) { return !uni::is_mark_nonspacing(c); });
  }
};

class Strip final : public Normalizer {
 public:
  explicit Strip(const nlohmann::json& j) {
    left_ = js::boolean_or(j, "strip_left", "normalizer Strip", true);
    right_ = js::boolean_or(j, "strip_right", "normalizer Strip", true);
  }
  void normalize(NormalizedString& s) const override { s.strip(left_, right_); }

 private:
  bool left_ = true, right_ = true;
};

class Replace final : public Normalizer {
 public:
  explicit Replace(const nlohmann::json& j)
      : pattern_(Pattern::from_json(js::field(j, "pattern", "normalizer Replace"), "normalizer Replace")) {
    content_ = js::str(j, "content", "normalizer Replace");
  }
  void normalize(NormalizedString& s) const override { s.replace(pattern_.find_matches(s.get()), content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(const nlohmann::json& j) { prepend_ = js::str(j, "prepend", "normalizer Prepend"); }
  void normalize(NormalizedString& s) const override { s.prepend(prepend_); }

 private:
  std::string prepend_;
};

// SentencePiece's "nmt" rules (HF normalizers::unicode::Nmt): drop control
// chars, turn the other whitespace-like chars into a plain space.
class Nmt final : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.filter([](char32_t c) {
      return !((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F ||
               c == 0x9F);
    });
    s.map([](char32_t c) -> char32_t {
      switch (c) {
        case 0x09:
        case 0x0A:
        case 0x0C:
        case 0x0D:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x2581:
        case 0xFEFF:
        case 0xFFFD: return U' ';
        default: return (c >= 0x200B && c <= 0x200F) ? U' ' : c;
      }
    });
  }
};

// A SentencePiece precompiled_charsmap applied per grapheme, then per char,
// exactly as HF's Precompiled normalizer (graphemes of 6+ bytes only per char).
class Precompiled final : public Normalizer {
 public:
  explicit Precompiled(const nlohmann::json& j) : map_(decode(j), "normalizer Precompiled") {}
  void normalize(NormalizedString& s) const override {
    if (map_.empty()) return;
    const std::string& t = s.get();
    std::vector<CharChange> dest;
    dest.reserve(t.size());
    bool modified = false;
    for (size_t g = 0; g < t.size();) {
      const size_t ge = uni::grapheme_end(t, g);
      const std::string_view grapheme(t.data() + g, ge - g);
      if (grapheme.size() < 6) {
        if (auto norm = map_.transform(grapheme)) {
          modified = true;
          push_replacement(dest, grapheme, *norm);
          g = ge;
          continue;
        }
      }
      for (size_t i = 0; i < grapheme.size();) {
        size_t len = 1;
        const char32_t c = uni::decode(grapheme, i, &len);
        const std::string_view part = grapheme.substr(i, len);
        if (auto norm = map_.transform(part)) {
          modified = true;
          push_replacement(dest, part, *norm);
        } else {
          dest.emplace_back(c, 0);
        }
        i += len;
      }
      g = ge;
    }
    if (modified) s.transform(dest, 0);
  }

 private:
  static std::string decode(const nlohmann::json& j) {
    const std::string what = "normalizer Precompiled";
    const auto* v = js::opt(j, "precompiled_charsmap");
    if (!v) return {};
    if (!v->is_string()) fail(ErrorKind::Corrupt, "{}: precompiled_charsmap must be a base64 string", what);
    auto bytes = base64_decode(v->get<std::string>());
    if (!bytes) fail(ErrorKind::Corrupt, "{}: precompiled_charsmap is not valid base64", what);
    return std::move(*bytes);
  }
  // New chars replace old ones one for one; extra new chars are insertions,
  // missing ones are folded into the last change (HF's `replace` helper,
  // which may reach back into the previous grapheme's entry).
  static void push_replacement(std::vector<CharChange>& dest, std::string_view old_part, std::string_view new_part) {
    const long diff = static_cast<long>(uni::char_count(new_part)) - static_cast<long>(uni::char_count(old_part));
    for (size_t i = 0; i < new_part.size();) {
      size_t len = 1;
      dest.emplace_back(uni::decode(new_part, i, &len), 0);
      i += len;
    }
    if (diff > 0) {
      for (long k = 0; k < diff && static_cast<size_t>(k) < dest.size(); ++k)
        dest[dest.size() - 1 - static_cast<size_t>(k)].second = 1;
    } else if (diff < 0 && !dest.empty()) {
      dest.back().second += static_cast<int>(diff);
    }
  }
  PrecompiledCharsmap map_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(const nlohmann::json& j) {
    js::SequenceNestingGuard nesting("normalizer Sequence");
    for (const auto& n : js::array(j, "normalizers", "normalizer Sequence")) {
      if (auto p = make_normalizer(n)) parts_.push_back(std::move(p));
    }
  }
  void normalize(NormalizedString& s) const override {
    for (const auto& p : parts_) p->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = js::type_of(j, "normalizer");
  if (type == "BertNormalizer") return std::make_unique<BertNormalizer>(j);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "NFC") return std::make_unique<UnicodeForm>(uni::NormForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeForm>(uni::NormForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeForm>(uni::NormForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeForm>(uni::NormForm::NFKD);
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Strip") return std::make_unique<Strip>(j);
  if (type == "Replace") return std::make_unique<Replace>(j);
  if (type == "Prepend") return std::make_unique<Prepend>(j);
  if (type == "Sequence") return std::make_unique<SequenceNormalizer>(j);
  if (type == "Nmt") return std::make_unique<Nmt>();
  if (type == "Precompiled") return std::make_unique<Precompiled>(j);
  if (type == "ByteLevel") return make_byte_level_normalizer();
  fail(ErrorKind::Unsupported, "normalizer: type '{}' is not supported", type);
}

}  // namespace ia::tok
