#pragma once
// The parts of a multipart/form-data request (RFC 7578), as the OpenAI SDKs upload audio: read by
// route_handler's form routes through cpp-httplib's multipart parser, within --max-request-bytes
// and a bound on the number of parts.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ia::server {

struct FormPart {
  std::string name;
  std::optional<std::string> filename;  // a file upload
  std::string content_type;             // "" when the part has none
  std::string data;
};

inline constexpr size_t kMaxFormParts = 64;

// The first part named `name`, or null.
inline const FormPart* find_part(const std::vector<FormPart>& parts, std::string_view name) {
  for (const auto& p : parts)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace ia::server
