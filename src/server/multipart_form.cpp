#include "server/multipart_form.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "server/api_error.h"

namespace ia::server {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

ApiError bad_form(const std::string& why) {
  return ApiError(400, "invalid_request_error", "invalid_multipart",
                  "the multipart/form-data body is malformed: " + why);
}

// A header's parameter (`name="file"`, `boundary=abc`): quoted with \-escapes, or a bare token.
std::optional<std::string> parameter(std::string_view header, std::string_view key) {
  size_t at = 0;
  while (at < header.size()) {
    const size_t semi = header.find(';', at);
    if (semi == std::string_view::npos) break;
    std::string_view rest = trim(header.substr(semi + 1));
    const size_t eq = rest.find('=');
    if (eq != std::string_view::npos && iequals(trim(rest.substr(0, eq)), key)) {
      std::string_view v = trim(rest.substr(eq + 1));
      std::string out;
      if (!v.empty() && v.front() == '"') {
        for (size_t i = 1; i < v.size(); ++i) {
          if (v[i] == '\\' && i + 1 < v.size()) {
            out += v[++i];
          } else if (v[i] == '"') {
            return out;
          } else {
            out += v[i];
          }
        }
        return std::nullopt;  // unterminated quote
      }
      return std::string(v.substr(0, v.find(';')));
    }
    at = semi + 1;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  const std::string_view type = trim(content_type.substr(0, content_type.find(';')));
  if (!iequals(type, "multipart/form-data")) return std::nullopt;
  auto b = parameter(content_type, "boundary");
  if (!b || b->empty() || b->size() > 70) throw bad_form("the Content-Type has no usable boundary");
  return b;
}

std::vector<FormPart> parse_multipart_form(std::string_view body, std::string_view boundary,
                                           const MultipartLimits& limits) {
  const std::string delimiter = "--" + std::string(boundary);
  // The first delimiter may be preceded by a preamble; each later one by CRLF.
  size_t at = body.find(delimiter);
  if (at == std::string_view::npos) throw bad_form("no boundary line");
  if (at != 0 && (at < 2 || body.substr(at - 2, 2) != "\r\n")) throw bad_form("no boundary line");
  at += delimiter.size();
  const std::string next_delimiter = "\r\n" + delimiter;
  std::vector<FormPart> parts;
  for (;;) {
    if (body.substr(at, 2) == "--") return parts;  // the closing delimiter
    // Transport padding, then CRLF.
    while (at < body.size() && (body[at] == ' ' || body[at] == '\t')) ++at;
    if (body.substr(at, 2) != "\r\n") throw bad_form("a boundary line does not end in CRLF");
    at += 2;
    if (parts.size() == limits.max_parts) throw bad_form(fmt::format("more than {} parts", limits.max_parts));
    const size_t headers_end = body.find("\r\n\r\n", at);
    const size_t empty_headers = body.substr(at, 2) == "\r\n" ? at : std::string_view::npos;
    const size_t header_block_end = empty_headers != std::string_view::npos ? at : headers_end;
    if (header_block_end == std::string_view::npos) throw bad_form("a part's headers do not end");
    if (header_block_end - at > limits.max_header_bytes) throw bad_form("a part's headers are too long");
    FormPart part;
    bool named = false;
    for (std::string_view headers = body.substr(at, header_block_end - at); !headers.empty();) {
      const size_t eol = headers.find("\r\n");
      const std::string_view line = headers.substr(0, eol);
      headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) throw bad_form("a part header has no ':'");
      const std::string_view key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
      if (iequals(key, "Content-Disposition")) {
        if (!iequals(trim(value.substr(0, value.find(';'))), "form-data"))
          throw bad_form("a part's Content-Disposition is not form-data");
        auto name = parameter(value, "name");
        if (!name) throw bad_form("a part has no name");
        part.name = std::move(*name);
        part.filename = parameter(value, "filename");
        named = true;
      } else if (iequals(key, "Content-Type")) {
        part.content_type = std::string(value);
      }
    }
    if (!named) throw bad_form("a part has no Content-Disposition");
    at = header_block_end + (empty_headers != std::string_view::npos ? 2 : 4);
    const size_t end = body.find(next_delimiter, at);
    if (end == std::string_view::npos) throw bad_form("the body ends inside a part (no closing boundary)");
    part.data = body.substr(at, end - at);
    parts.push_back(std::move(part));
    at = end + next_delimiter.size();
  }
}

const FormPart* find_part(const std::vector<FormPart>& parts, std::string_view name) {
  for (const auto& p : parts)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace ia::server
