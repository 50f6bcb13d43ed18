#include "server/image_url.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "server/api_error.h"
#include "tokenizers/precompiled_charsmap.h"

namespace ia::server {

namespace {

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), s.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

}  // namespace

std::string image_url_bytes(std::string_view url, const std::string& param, size_t max_bytes) {
  if (starts_with_nocase(url, "http://") || starts_with_nocase(url, "https://"))
    throw invalid_field(param,
                        "remote image URLs are not fetched; send the image inline as a data: URL "
                        "(data:image/png;base64,...)");
  if (starts_with_nocase(url, "file:"))
    throw invalid_field(param, "local file URLs are not read; send the image inline as a data: URL");
  if (!starts_with_nocase(url, "data:"))
    throw invalid_field(param, "an image URL must be a data: URL (data:image/png;base64,...)");
  const size_t comma = url.find(',');
  if (comma == std::string_view::npos) throw invalid_field(param, "a data: URL needs a ',' before its payload");
  const std::string_view header = url.substr(5, comma - 5);
  const std::string_view payload = url.substr(comma + 1);
  // header: MEDIATYPE[;param=value]*;base64
  if (!starts_with_nocase(header, "image/"))
    throw invalid_field(param, fmt::format("a data: URL's media type must be image/*, got \"{}\"",
                                           header.substr(0, std::min<size_t>(header.size(), 64))));
  if (header.size() < 7 || !starts_with_nocase(header.substr(header.size() - 7), ";base64"))
    throw invalid_field(param, "the image's data: URL must be base64 (data:image/png;base64,...)");
  // Four characters carry three bytes: a payload that cannot fit the bound is refused unread.
  if (payload.size() / 4 * 3 > max_bytes + 3)
    throw invalid_field(param, fmt::format("the image is over the limit of {} bytes", max_bytes));
  std::optional<std::string> bytes = tok::base64_decode(payload);
  if (!bytes) throw invalid_field(param, "the image's data: URL payload is not valid base64");
  if (bytes->size() > max_bytes)
    throw invalid_field(param, fmt::format("the image is over the limit of {} bytes", max_bytes));
  if (bytes->empty()) throw invalid_field(param, "the image's data: URL is empty");
  return std::move(*bytes);
}

}  // namespace ia::server
