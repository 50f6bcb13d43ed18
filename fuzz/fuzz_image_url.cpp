// libFuzzer target for an OpenAI image_url (server/image_url.h): the input is the URL. Invariants:
// a refusal is an ApiError with a 400 status (never another exception); an accepted URL is a
// base64 data: URL of an image/* type whose decoded bytes are non-empty and within the bound.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/api_error.h"
#include "server/image_url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view url(reinterpret_cast<const char*>(data), size);
  constexpr size_t kBound = 4096;
  try {
    const std::string bytes = ia::server::image_url_bytes(url, "url", kBound);
    if (bytes.empty() || bytes.size() > kBound || url.substr(0, 5).size() < 5) std::abort();
  } catch (const ia::server::ApiError& e) {
    if (e.status() != 400) std::abort();
  }
  return 0;
}
