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

// Backtracking budget of one match attempt and of one search (all start
// positions together); see Regex::find_matches.
inline constexpr unsigned long kRegexRetryLimitPerMatch = 1000000;
inline constexpr unsigned long kRegexRetryLimitPerSearch = 10000000;

class Regex {
 public:
  // Throws ia::Error(Corrupt) naming `what` if the pattern does not compile.
  Regex(const std::string& pattern, const std::string& what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Every non-overlapping match, as a partition of s (HF find_matches).
  // Corrupt (naming the pattern) when the backtracking budget runs out.
  Matches find_matches(std::string_view s) const;

 private:
  void* reg_ = nullptr;  // OnigRegex
  std::string pattern_, what_;
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
