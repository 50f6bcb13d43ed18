#include "tokenizers/byte_level.h"

#include <string>
#include <vector>

#include "tokenizers/json_util.h"
#include "tokenizers/normalizers.h"
#include "tokenizers/pre_tokenizers.h"
#include "tokenizers/regex.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

const std::array<char32_t, 256>& bytes_to_unicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      t[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : 256 + n++;
    }
    return t;
  }();
  return table;
}

std::optional<unsigned char> unicode_to_byte(char32_t c) {
  static const std::vector<int> inverse = [] {
    std::vector<int> inv(512, -1);
    const auto& t = bytes_to_unicode();
    for (int b = 0; b < 256; ++b) inv[t[static_cast<size_t>(b)]] = b;
    return inv;
  }();
  if (c >= inverse.size() || inverse[c] < 0) return std::nullopt;
  return static_cast<unsigned char>(inverse[c]);
}

void byte_level_map(NormalizedString& n) {
  // Every byte becomes its printable char; extra bytes of one char are insertions.
  const auto& table = bytes_to_unicode();
  thread_local std::vector<CharChange> dest;
  const std::string& t = n.get();
  dest.clear();
  dest.reserve(t.size());
  for (size_t i = 0; i < t.size();) {
    size_t len = 1;
    uni::decode(t, i, &len);
    for (size_t k = 0; k < len; ++k) dest.emplace_back(table[static_cast<unsigned char>(t[i + k])], k > 0 ? 1 : 0);
    i += len;
  }
  n.transform(dest, 0);
}

namespace {

class ByteLevelNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override { byte_level_map(s); }
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  explicit ByteLevelPreTokenizer(const nlohmann::json& j) {
    const std::string what = "pre_tokenizer ByteLevel";
    add_prefix_space_ = js::boolean_or(j, "add_prefix_space", what, true);
    use_regex_ = js::boolean_or(j, "use_regex", what, true);
    if (use_regex_) {
      // The GPT-2 split, compiled once for every ByteLevel instance.
      static const auto re = std::make_shared<Regex>(
          "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", what);
      re_ = re;
    }
  }
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split([this](NormalizedString&& n, std::vector<Split>& out) {
      if (add_prefix_space_ && n.get().compare(0, 1, " ") != 0) n.prepend(" ");
      if (!use_regex_) {
        out.push_back(Split{std::move(n), std::nullopt});
        return;
      }
      for (auto& p : n.split(re_->find_matches(n.get()), SplitBehavior::Isolated)) {
        out.push_back(Split{std::move(p), std::nullopt});
      }
    });
    for (auto& sp : s.splits()) {
      if (!sp.tokens) byte_level_map(sp.normalized);
    }
  }

 private:
  bool add_prefix_space_ = true, use_regex_ = true;
  std::shared_ptr<Regex> re_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(const nlohmann::json& j) {
  return std::make_unique<ByteLevelPreTokenizer>(j);
}

std::unique_ptr<Normalizer> make_byte_level_normalizer() {
  return std::make_unique<ByteLevelNormalizer>();
}

}  // namespace ia::tok
