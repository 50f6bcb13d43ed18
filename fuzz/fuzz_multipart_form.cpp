// libFuzzer target for the multipart/form-data parser (server/multipart_form): the first line of
// the input is the Content-Type, the rest the body. Anything must parse into parts that lie within
// the body, or be refused with a 400 ApiError; nothing else may escape.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/api_error.h"
#include "server/multipart_form.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t eol = in.find('\n');
  if (eol == std::string_view::npos) return 0;
  const std::string_view content_type = in.substr(0, eol), body = in.substr(eol + 1);
  try {
    const auto boundary = ia::server::multipart_boundary(content_type);
    if (!boundary) return 0;
    for (const auto& p : ia::server::parse_multipart_form(body, *boundary))
      if (p.data.data() < body.data() || p.data.data() + p.data.size() > body.data() + body.size()) std::abort();
  } catch (const ia::server::ApiError& e) {
    if (e.status() != 400) std::abort();
  }
  return 0;
}
