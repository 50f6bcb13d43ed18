#pragma once
// A small libcurl client for the hub: one request at a time on one handle (the
// connection is reused), no redirect followed by curl itself (the caller
// decides where a Location may take it and which headers go there), http and
// https only, a connect timeout and a stall timeout.
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ia::hub {

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // of the final response; names lower-cased
  std::string location;                        // a redirect's target, made absolute
  std::string error_body;                      // the first 4 KiB of a non-2xx body
  std::string header(const std::string& lower_name) const;
};

class HttpClient {
 public:
  // Receives a 2xx response's body, with the response's status and headers
  // (`location` and `error_body` not yet filled); false aborts the transfer.
  using OnBody = std::function<bool(const HttpResponse& head, const char* data, size_t n)>;

  explicit HttpClient(long stall_timeout_s);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One request (HEAD or GET) with extra header lines ("Name: value"). Returns
  // the response; `err` is set when the transfer failed (no answer, cut short,
  // stalled past the timeout, aborted by on_body), and is empty otherwise.
  HttpResponse request(const std::string& method, const std::string& url, const std::vector<std::string>& headers,
                       const OnBody& on_body, std::string& err);

 private:
  void* curl_;
  long stall_timeout_s_;
};

// scheme://host:port of a URL, lower-cased, the port explicit; "" when it does not parse.
std::string url_origin(const std::string& url);

// `url` without a user:password@ part, for messages.
std::string redact_url(const std::string& url);

// Percent-encodes every byte but unreserved ones (letters, digits, -._~), and
// also keeps '/' when `keep_slash`.
std::string url_encode(const std::string& s, bool keep_slash);

}  // namespace ia::hub
