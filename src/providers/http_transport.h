#pragma once
// HTTP for the remote providers, over libcurl: easy handles pooled by origin, so a
// request reuses the connection an earlier one to the same host left open, whichever thread
// makes it (curl_handle_pool.h; DNS answers and TLS sessions shared), TLS verified, no redirects followed,
// http and https only, and four timeouts — connect, first byte (servers that
// load a model before answering need a long one), idle (a stream that stalls)
// and total. A 2xx body goes to the caller's sink as it arrives (streams); any
// other body is kept up to 64 KiB for the error message. Secrets travel only in
// the header lines given and never appear in an error message.
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ia::providers {

struct HttpTimeouts {
  std::chrono::milliseconds connect{10'000};
  std::chrono::milliseconds first_byte{120'000};
  std::chrono::milliseconds idle{60'000};
  std::chrono::milliseconds total{600'000};
};

struct HttpRequest {
  std::string method = "GET";  // GET, POST, PUT, HEAD, DELETE
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // a non-2xx body (first 64 KiB), or a 2xx body without a sink
  std::string header(const std::string& lower_name) const;
};

enum class TransportFailure { None, Connect, FirstByteTimeout, IdleTimeout, TotalTimeout, TooLarge, Aborted, Other };

struct HttpOutcome {
  HttpResponse response;
  TransportFailure failure = TransportFailure::None;
  std::string error;  // why, when failure != None
};

// Receives a 2xx body's bytes as they arrive (after `head` is complete); false aborts.
using BodySink = std::function<bool(const HttpResponse& head, std::string_view bytes)>;

// One exchange. With no sink a 2xx body is kept whole, up to `max_body` (TooLarge past it).
HttpOutcome http_send(const HttpRequest& req, const HttpTimeouts& timeouts, const BodySink& sink = nullptr,
                      size_t max_body = 64u << 20);

// Percent-encodes a query or path component (RFC 3986 unreserved kept; '/' kept when asked).
std::string percent_encode(std::string_view s, bool keep_slash);

}  // namespace ia::providers
