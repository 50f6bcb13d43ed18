#pragma once
// multipart/form-data bodies (RFC 7578), as the OpenAI SDKs send audio uploads: the boundary from
// the Content-Type header, then each part's name, filename, content type and bytes. The body was
// already read within --max-request-bytes; parsing bounds the parts and their header lines, and
// every refusal is a 400 saying what is wrong. Parts are views into the body.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ia::server {

struct FormPart {
  std::string name;
  std::optional<std::string> filename;  // a file upload
  std::string content_type;             // "" when the part has none
  std::string_view data;
};

struct MultipartLimits {
  size_t max_parts = 64;
  size_t max_header_bytes = 8192;  // one part's headers together
};

// The boundary of a `multipart/form-data; boundary=...` Content-Type; nullopt for any other type.
std::optional<std::string> multipart_boundary(std::string_view content_type);

std::vector<FormPart> parse_multipart_form(std::string_view body, std::string_view boundary,
                                           const MultipartLimits& limits = {});

// The first part named `name`, or null.
const FormPart* find_part(const std::vector<FormPart>& parts, std::string_view name);

}  // namespace ia::server
