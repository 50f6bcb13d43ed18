#pragma once
// JSON files and the wording of JSON problems in our errors, shared by every format parser.
#include <string>

#include <nlohmann/json.hpp>

namespace ia {

// nlohmann's messages start with "[json.exception.parse_error.101] "; keep the rest.
std::string strip_json_prefix(const char* what);

// Reads and parses a JSON file within the limits of core/bounded_json.h,
// duplicate keys refused: NotFound when it cannot be opened, Corrupt (naming
// the file and the parser's position or the limit) otherwise.
nlohmann::json read_json_file(const std::string& path);

// A short, printable rendering of a JSON value for error messages.
std::string brief_json(const nlohmann::json& j);

}  // namespace ia
