#include "formats/json_messages.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/bounded_json.h"
#include "core/error.h"

namespace ia {

std::string strip_json_prefix(const char* what) {
  std::string s = what;
  if (!s.empty() && s[0] == '[') {
    auto p = s.find("] ");
    if (p != std::string::npos) s = s.substr(p + 2);
  }
  return s;
}

nlohmann::json read_json_file(const std::string& path) {
  JsonLimits limits;
  limits.reject_duplicate_keys = true;
  return parse_json_bounded(read_bounded_file(path, limits.max_bytes), path, limits);
}

std::string brief_json(const nlohmann::json& j) {
  std::string s = j.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace ia
