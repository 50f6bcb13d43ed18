#include "formats/json_messages.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

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
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::NotFound, "{}: cannot open: {}", path, std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::Corrupt, "{}: not valid JSON: {}", path, strip_json_prefix(e.what()));
  }
}

std::string brief_json(const nlohmann::json& j) {
  std::string s = j.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace ia
