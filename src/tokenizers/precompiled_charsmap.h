#pragma once
// SentencePiece's `precompiled_charsmap` (the normalization rules a .model
// carries, copied into tokenizer.json's Precompiled normalizer as base64).
// Layout: u32 little-endian trie size in bytes, the trie as u32 units (a
// Darts double array whose leaves hold offsets), then the replacement strings,
// each ended by a NUL byte.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ia::tok {

class PrecompiledCharsmap {
 public:
  // Throws ia::Error(Corrupt) naming `what` when the blob is malformed.
  PrecompiledCharsmap(std::string_view blob, const std::string& what);
  bool empty() const { return units_.empty(); }
  // Replacement for the shortest rule key that is a prefix of `chunk` (the
  // lookup spm_precompiled does), or nullopt.
  std::optional<std::string_view> transform(std::string_view chunk) const;

 private:
  std::vector<uint32_t> units_;
  std::string normalized_;
};

}  // namespace ia::tok
