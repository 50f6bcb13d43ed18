#include "tokenizers/precompiled_charsmap.h"

#include "core/error.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

namespace {
// Fields of one double-array unit, as Darts packs them.
bool has_leaf(uint32_t u) {
  return ((u >> 8) & 1) != 0;
}
uint32_t value_of(uint32_t u) {
  return u & ((1u << 31) - 1);
}
uint32_t label_of(uint32_t u) {
  return u & ((1u << 31) | 0xFF);
}
uint32_t offset_of(uint32_t u) {
  return (u >> 10) << ((u & (1u << 9)) >> 6);
}
}  // namespace

PrecompiledCharsmap::PrecompiledCharsmap(std::string_view blob, const std::string& what) {
  if (blob.empty()) return;  // an empty map normalizes nothing
  if (blob.size() < 4) fail(ErrorKind::Corrupt, "{}: precompiled_charsmap is truncated", what);
  uint32_t trie_bytes = 0;
  for (int k = 3; k >= 0; --k)
    trie_bytes = (trie_bytes << 8) | static_cast<unsigned char>(blob[static_cast<size_t>(k)]);
  const size_t n_units = trie_bytes / 4;
  if (n_units > (blob.size() - 4) / 4)
    fail(ErrorKind::Corrupt, "{}: precompiled_charsmap trie size out of range", what);
  units_.resize(n_units);
  for (size_t i = 0; i < n_units; ++i) {
    uint32_t u = 0;
    for (int k = 3; k >= 0; --k) u = (u << 8) | static_cast<unsigned char>(blob[4 + 4 * i + static_cast<size_t>(k)]);
    units_[i] = u;
  }
  normalized_ = std::string(blob.substr(4 + 4 * n_units));
  if (!uni::is_valid_utf8(normalized_)) {
    fail(ErrorKind::Corrupt, "{}: precompiled_charsmap strings are not valid UTF-8", what);
  }
  if (units_.empty()) fail(ErrorKind::Corrupt, "{}: precompiled_charsmap has an empty trie", what);
}

std::optional<std::string_view> PrecompiledCharsmap::transform(std::string_view chunk) const {
  if (units_.empty()) return std::nullopt;
  // Every index is bounds-checked: the blob comes from a file.
  size_t pos = offset_of(units_[0]);
  for (char ch : chunk) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) break;
    pos ^= c;
    if (pos >= units_.size()) return std::nullopt;
    const uint32_t unit = units_[pos];
    if (label_of(unit) != c) return std::nullopt;
    pos ^= offset_of(unit);
    if (has_leaf(unit)) {
      if (pos >= units_.size()) return std::nullopt;
      const size_t index = value_of(units_[pos]);
      if (index > normalized_.size()) return std::nullopt;
      const size_t end = normalized_.find('\0', index);
      std::string_view out(normalized_);
      out = out.substr(index, (end == std::string::npos ? normalized_.size() : end) - index);
      // A rule must not cut a UTF-8 sequence; such a (corrupt) rule is ignored.
      if (!uni::is_valid_utf8(out)) return std::nullopt;
      return out;
    }
  }
  return std::nullopt;
}

}  // namespace ia::tok
