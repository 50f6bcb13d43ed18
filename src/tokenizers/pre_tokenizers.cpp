#include "tokenizers/pre_tokenizers.h"

#include <string>
#include <vector>

#include "tokenizers/byte_level.h"
#include "tokenizers/json_util.h"
#include "tokenizers/regex.h"
#include "tokenizers/unicode.h"
#include "tokenizers/unicode_scripts.h"

namespace ia::tok {

SplitBehavior parse_split_behavior(const nlohmann::json& j, const std::string& what, SplitBehavior def) {
  const auto* b = js::opt(j, "behavior");
  if (!b) return def;
  if (!b->is_string()) fail(ErrorKind::Corrupt, "{}: field 'behavior' must be a string", what);
  const auto s = b->get<std::string>();
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  fail(ErrorKind::Corrupt, "{}: unknown split behavior '{}'", what, s);
}

namespace {

Matches whitespace_matches(std::string_view s) {
  return match_chars(s, uni::is_whitespace);
}
Matches punct_matches(std::string_view s) {
  return match_chars(s, uni::is_bert_punctuation);
}

class BertPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split_by(whitespace_matches, SplitBehavior::Removed);
    s.split_by(punct_matches, SplitBehavior::Isolated);
  }
};

// HF Whitespace: keeps the matches of \w+|[^\w\s]+ (runs of word chars, runs
// of other non-space chars); spaces are dropped.
class WhitespacePreTokenizer final : public PreTokenizer {
 public:
  static Matches matches(std::string_view s) {
    Matches out;
    enum Kind { Space, Word, Other };
    size_t run_start = 0;
    Kind run = Space;
    bool first = true;
    auto close = [&](size_t end) {
      if (end > run_start) out.push_back({{run_start, end}, run == Space});  // spaces are the delimiters
    };
    for (size_t i = 0; i < s.size();) {
      size_t len = 1;
      const char32_t c = uni::decode(s, i, &len);
      const Kind k = uni::is_word_char(c) ? Word : uni::is_whitespace(c) ? Space : Other;
      if (first || k != run) {
        if (!first) close(i);
        run = k;
        run_start = i;
        first = false;
      }
      i += len;
    }
    if (!first) close(s.size());
    return out;
  }
  void pre_tokenize(PreTokenizedString& s) const override { s.split_by(matches, SplitBehavior::Removed); }
};

class WhitespaceSplit final : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& s) const override { s.split_by(whitespace_matches, SplitBehavior::Removed); }
};

class Punctuation final : public PreTokenizer {
 public:
  explicit Punctuation(const nlohmann::json& j)
      : behavior_(parse_split_behavior(j, "pre_tokenizer Punctuation", SplitBehavior::Isolated)) {}
  void pre_tokenize(PreTokenizedString& s) const override { s.split_by(punct_matches, behavior_); }

 private:
  SplitBehavior behavior_;
};

class Digits final : public PreTokenizer {
 public:
  explicit Digits(const nlohmann::json& j) {
    individual_ = js::boolean_or(j, "individual_digits", "pre_tokenizer Digits", false);
  }
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split_by([](std::string_view t) { return match_chars(t, uni::is_numeric); },
               individual_ ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
  }

 private:
  bool individual_ = false;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  explicit SplitPreTokenizer(const nlohmann::json& j)
      : pattern_(Pattern::from_json(js::field(j, "pattern", "pre_tokenizer Split"), "pre_tokenizer Split")),
        behavior_(parse_split_behavior(j, "pre_tokenizer Split", SplitBehavior::Removed)),
        invert_(js::boolean_or(j, "invert", "pre_tokenizer Split", false)) {}
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split_by(
        [this](std::string_view t) {
          Matches m = pattern_.find_matches(t);
          if (invert_) {
            for (auto& x : m) x.second = !x.second;
          }
          return m;
        },
        behavior_);
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

class Metaspace final : public PreTokenizer {
 public:
  explicit Metaspace(const nlohmann::json& j) {
    const std::string what = "pre_tokenizer Metaspace";
    replacement_ = js::str_or(j, "replacement", what, "\xE2\x96\x81");
    if (uni::char_count(replacement_) != 1 || !uni::is_valid_utf8(replacement_)) {
      fail(ErrorKind::Corrupt, "{}: replacement must be a single character", what);
    }
    split_ = js::boolean_or(j, "split", what, true);
    std::string scheme = "always";
    if (const auto* p = js::opt(j, "prepend_scheme")) {
      if (!p->is_string()) fail(ErrorKind::Corrupt, "{}: field 'prepend_scheme' must be a string", what);
      scheme = p->get<std::string>();
    } else if (!js::boolean_or(j, "add_prefix_space", what, true)) {
      scheme = "never";
    }
    if (scheme == "always") {
      scheme_ = Scheme::Always;
    } else if (scheme == "first") {
      scheme_ = Scheme::First;
    } else if (scheme == "never") {
      scheme_ = Scheme::Never;
    } else {
      fail(ErrorKind::Corrupt, "{}: unknown prepend_scheme '{}'", what, scheme);
    }
  }
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split([this](NormalizedString&& n, std::vector<Split>& out) {
      n.replace(match_string(n.get(), " "), replacement_);
      const bool starts = n.get().compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == Scheme::Always || (scheme_ == Scheme::First && n.offsets_original().first == 0))) {
        n.prepend(replacement_);
      }
      if (!split_) {
        out.push_back(Split{std::move(n), std::nullopt});
        return;
      }
      for (auto& p : n.split(match_string(n.get(), replacement_), SplitBehavior::MergedWithNext)) {
        out.push_back(Split{std::move(p), std::nullopt});
      }
    });
  }

 private:
  enum class Scheme { Always, First, Never };
  std::string replacement_;
  Scheme scheme_ = Scheme::Always;
  bool split_ = true;
};

class CharDelimiterSplit final : public PreTokenizer {
 public:
  explicit CharDelimiterSplit(const nlohmann::json& j) {
    const std::string d = js::str(j, "delimiter", "pre_tokenizer CharDelimiterSplit");
    size_t len = 0;
    if (d.empty() || !uni::is_valid_utf8(d) || (uni::decode(d, 0, &len), len != d.size())) {
      fail(ErrorKind::Corrupt, "pre_tokenizer CharDelimiterSplit: delimiter must be one character");
    }
    delimiter_ = uni::decode(d, 0, &len);
  }
  void pre_tokenize(PreTokenizedString& s) const override {
    const char32_t d = delimiter_;
    s.split_by([d](std::string_view t) { return match_chars(t, [d](char32_t c) { return c == d; }); },
               SplitBehavior::Removed);
  }

 private:
  char32_t delimiter_ = U' ';
};

// Chunks of `length` chars (the last one shorter), as HF FixedLength.
class FixedLength final : public PreTokenizer {
 public:
  explicit FixedLength(const nlohmann::json& j) {
    const int64_t n = js::integer_or(j, "length", "pre_tokenizer FixedLength", 5);
    if (n < 0) fail(ErrorKind::Corrupt, "pre_tokenizer FixedLength: length must not be negative");
    length_ = static_cast<size_t>(n);
  }
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split([this](NormalizedString&& n, std::vector<Split>& out) {
      const std::string& t = n.get();
      size_t start = 0, count = 0;
      for (size_t i = 0; i < t.size();) {
        size_t len = 1;
        uni::decode(t, i, &len);
        i += len;
        if (++count == length_) {
          out.push_back(Split{n.slice(start, i), std::nullopt});
          start = i;
          count = 0;
        }
      }
      if (start < t.size()) out.push_back(Split{n.slice(start, t.size()), std::nullopt});
    });
  }

 private:
  size_t length_ = 5;
};

// Splits where the Unicode script changes (HF UnicodeScripts): spaces belong
// to no script, Hiragana / Katakana / Hangul and U+30FC count as Han. As in
// HF, text before the first char with a script (leading spaces) is dropped.
class UnicodeScripts final : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split([](NormalizedString&& n, std::vector<Split>& out) {
      const std::string& t = n.get();
      static const uint16_t han = uni::script_of(U'\u4E00'), hiragana = uni::script_of(U'\u3042'),
                            katakana = uni::script_of(U'\u30A2'), hangul = uni::script_of(U'\uAC00');
      constexpr int kAny = -1;
      auto fixed = [&](char32_t c) -> int {
        if (c == 0x30FC) return han;
        if (c == U' ') return kAny;
        const uint16_t sc = uni::script_of(c);
        return (sc == hiragana || sc == katakana || sc == hangul) ? han : sc;
      };
      thread_local std::vector<size_t> cuts;
      cuts.clear();
      int last = -2;  // none yet
      for (size_t i = 0; i < t.size();) {
        size_t len = 1;
        const int sc = fixed(uni::decode(t, i, &len));
        if (sc != kAny && last != kAny && last != sc) cuts.push_back(i);
        if (sc != kAny) last = sc;
        i += len;
      }
      cuts.push_back(t.size());
      for (size_t k = 0; k + 1 < cuts.size(); ++k) out.push_back(Split{n.slice(cuts[k], cuts[k + 1]), std::nullopt});
    });
  }
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(const nlohmann::json& j) {
    js::SequenceNestingGuard nesting("pre_tokenizer Sequence");
    for (const auto& p : js::array(j, "pretokenizers", "pre_tokenizer Sequence")) {
      if (auto q = make_pre_tokenizer(p)) parts_.push_back(std::move(q));
    }
  }
  void pre_tokenize(PreTokenizedString& s) const override {
    for (const auto& p : parts_) p->pre_tokenize(s);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = js::type_of(j, "pre_tokenizer");
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplit>();
  if (type == "Punctuation") return std::make_unique<Punctuation>(j);
  if (type == "Digits") return std::make_unique<Digits>(j);
  if (type == "Split") return std::make_unique<SplitPreTokenizer>(j);
  if (type == "Metaspace") return std::make_unique<Metaspace>(j);
  if (type == "ByteLevel") return make_byte_level_pre_tokenizer(j);
  if (type == "Sequence") return std::make_unique<SequencePreTokenizer>(j);
  if (type == "CharDelimiterSplit") return std::make_unique<CharDelimiterSplit>(j);
  if (type == "FixedLength") return std::make_unique<FixedLength>(j);
  if (type == "UnicodeScripts") return std::make_unique<UnicodeScripts>();
  fail(ErrorKind::Unsupported, "pre_tokenizer: type '{}' is not supported", type);
}

}  // namespace ia::tok
