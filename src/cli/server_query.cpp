#include "cli/server_query.h"

#include <httplib.h>

#include "core/error.h"

namespace ia::cli {

nlohmann::json get_server_json(const std::string& url, const std::string& path, const std::string& api_key) {
  httplib::Client client(url);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(30, 0);
  httplib::Headers headers;
  if (!api_key.empty()) headers.emplace("Authorization", "Bearer " + api_key);
  auto r = client.Get(path, headers);
  if (!r)
    fail(ErrorKind::Unavailable, "no answer from {} (is `ipfs-accelerate serve` running there? httplib error {})", url,
         static_cast<int>(r.error()));
  if (r->status != 200) fail(ErrorKind::Unavailable, "{} answered {}: {}", url, r->status, r->body.substr(0, 300));
  nlohmann::json j = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail(ErrorKind::Corrupt, "{}{} answered something that is not JSON", url, path);
  return j;
}

}  // namespace ia::cli
