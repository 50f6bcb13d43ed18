#include "server/api_keys.h"

#include "server/api_error.h"

namespace ia::server {

namespace {

// Equal in time that depends only on the lengths, not on where the bytes differ.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

}  // namespace

void ApiKeys::check(const std::string& authorization, const std::string& x_api_key) const {
  if (keys_.empty()) return;
  std::string given = x_api_key;
  const std::string bearer = "Bearer ";
  if (authorization.size() > bearer.size() && authorization.compare(0, bearer.size(), bearer) == 0)
    given = authorization.substr(bearer.size());
  if (given.empty())
    throw ApiError(401, "invalid_request_error", "missing_api_key",
                   "an API key is required: send it as \"Authorization: Bearer KEY\"");
  bool ok = false;
  for (const std::string& key : keys_) ok |= same_secret(given, key);
  if (!ok) throw ApiError(401, "invalid_request_error", "invalid_api_key", "incorrect API key provided");
}

}  // namespace ia::server
