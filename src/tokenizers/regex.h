#pragma once
// Split / replace patterns of tokenizer.json: {"String": "..."} (literal) or
// {"Regex": "..."} (Oniguruma, Ruby syntax, like HF's SysRegex). Compiled once
// at load time and shared read-only between threads.
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokenizers/normalized_string.h"

namespace ia::tok {

class Regex {
 public:
  // Throws ia::Error(Corrupt) naming `what` if the pattern does not compile.
  Regex(const std::string& pattern, const std::string& what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Every non-overlapping match, as a partition of s (HF find_matches).
  Matches find_matches(std::string_view s) const;

 private:
  void* reg_ = nullptr;  // OnigRegex
};

class Pattern {
 public:
  static Pattern from_json(const nlohmann::json& j, const std::string& what);
  Matches find_matches(std::string_view s) const;

 private:
  std::string literal_;
  std::shared_ptr<Regex> regex_;
};

}  // namespace ia::tok
