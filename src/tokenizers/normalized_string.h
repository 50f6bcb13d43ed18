#pragma once
// A string under normalization that remembers, for every byte of the
// normalized text, which byte range of the original text it came from (the
// model of HF `tokenizers`' NormalizedString). Offsets reported to users are
// derived from these alignments, so every edit goes through transform().
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ia::tok {

using Offsets = std::pair<size_t, size_t>;

// Normalizers may grow a text (NFKD, Replace, Prepend) but not past this
// factor of its original size plus a slack: a chain of Replace steps that
// doubles the text each time is refused (Corrupt) instead of exhausting memory.
inline constexpr size_t kMaxNormalizedGrowth = 32;
inline constexpr size_t kNormalizedGrowthSlackBytes = 4096;
// One output char and its change relative to the input: 0 replaces the next
// input char, +1 is inserted, -n replaces the next input char and removes the
// n input chars after it.
using CharChange = std::pair<char32_t, int>;

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// A partition of a string into byte ranges, each flagged as a pattern match or not.
using Matches = std::vector<std::pair<Offsets, bool>>;

class NormalizedString {
 public:
  NormalizedString() = default;
  explicit NormalizedString(std::string original);

  const std::string& get() const { return normalized_; }
  const std::string& original() const { return original_; }
  size_t len() const { return normalized_.size(); }
  bool empty() const { return normalized_.empty(); }
  // Byte range covered in the whole input this string was sliced from.
  Offsets offsets_original() const { return {shift_, shift_ + original_.size()}; }

  // Normalized byte range -> original byte range (relative to original()).
  std::optional<Offsets> convert_normalized(size_t start, size_t end) const;
  // Sub-string by normalized byte range (must be on char boundaries).
  NormalizedString slice(size_t start, size_t end) const;

  void transform_range(size_t start, size_t end, const std::vector<CharChange>& dest, size_t initial_offset);
  void transform(const std::vector<CharChange>& dest, size_t initial_offset) {
    transform_range(0, normalized_.size(), dest, initial_offset);
  }

  void filter(const std::function<bool(char32_t)>& keep);
  void map(const std::function<char32_t(char32_t)>& f);
  void lowercase();
  void prepend(std::string_view s);
  void append(std::string_view s);
  // Replaces every (non-overlapping, leftmost) occurrence of the matched ranges by `content`.
  void replace(const Matches& matches, std::string_view content);
  void strip(bool left, bool right);
  void nfd();
  void nfkd();
  void nfc();
  void nfkc();

  std::vector<NormalizedString> split(const Matches& matches, SplitBehavior behavior) const;

 private:
  // Corrupt when new_size exceeds the growth limit.
  void check_growth(size_t new_size) const;

  std::string original_;
  std::string normalized_;
  std::vector<Offsets> alignments_;  // one per normalized byte, into original_
  size_t shift_ = 0;
};

// Pattern matchers producing Matches that cover the whole input.
Matches match_chars(std::string_view s, const std::function<bool(char32_t)>& pred);
Matches match_string(std::string_view s, std::string_view needle);

}  // namespace ia::tok
