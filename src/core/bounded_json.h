#pragma once
// JSON from untrusted sources (model-folder files, requests) parsed within
// limits: a nesting depth (deep documents overflow the stack of recursive
// consumers and of nlohmann's dump), a byte size, no UTF-8 byte-order mark
// (Python's json refuses one too) and, where asked, no key given twice in one
// object (config.json: which value wins is ambiguous). A linear SAX pass checks
// the limits before the document is built, so a refused document is never
// materialised.
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ia {

// Deepest nesting any model file or request needs is under 10 levels.
inline constexpr size_t kMaxJsonDepth = 128;

struct JsonLimits {
  size_t max_depth = kMaxJsonDepth;
  size_t max_bytes = 64u << 20;
  bool reject_duplicate_keys = false;
  // Kind of every error: Corrupt for files of a model folder, InvalidArgument for requests.
  ErrorKind kind = ErrorKind::Corrupt;
};

// A whole file of at most max_bytes: NotFound when it cannot be opened, Corrupt
// (naming the file and the limit) when larger.
std::string read_bounded_file(const std::string& path, size_t max_bytes);

// Parses `text`; errors (of limits.kind) start with `source` and say which limit
// was exceeded or where the syntax is wrong ("SOURCE: not valid JSON: ...").
nlohmann::json parse_json_bounded(std::string_view text, const std::string& source, const JsonLimits& limits = {});
nlohmann::ordered_json parse_ordered_json_bounded(std::string_view text, const std::string& source,
                                                  const JsonLimits& limits = {});

}  // namespace ia
