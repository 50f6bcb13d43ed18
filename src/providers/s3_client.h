#pragma once
// An S3-compatible object store client (AWS S3, MinIO, Ceph, R2, …) over
// SigV4: HEAD, GET (whole, to a sink, or one byte range), PUT, multipart
// upload for large files, ListObjectsV2 with pagination, and a whole "folder"
// (a key prefix) fetched to disk with each file's size checked. Several
// endpoints can back one logical store (S3Pool): a request goes to the least
// loaded endpoint whose breaker is closed, and moves to another on a failure the
// protocol marks retryable (500, 503 SlowDown, RequestTimeout, …). Every retry
// is signed anew.
//
// Credentials and endpoint from the environment as the AWS SDKs read them:
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (or
// AWS_DEFAULT_REGION, default us-east-1), AWS_ENDPOINT_URL_S3 (or
// AWS_ENDPOINT_URL; a custom endpoint is addressed path-style).
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "providers/circuit_breaker.h"
#include "providers/http_transport.h"
#include "providers/provider_config.h"
#include "providers/sigv4.h"

namespace ia::providers {

struct S3Endpoint {
  std::string endpoint_url;  // "" → AWS virtual-hosted https://BUCKET.s3.REGION.amazonaws.com
  std::string region = "us-east-1";
  AwsCredentials credentials;
  bool path_style = true;  // for a custom endpoint
};

S3Endpoint s3_endpoint_from_env(const EnvLookup& env);

struct S3Object {
  std::string key, etag;
  uint64_t size = 0;
};

struct S3Head {
  uint64_t size = 0;
  std::string etag, content_type;
  std::map<std::string, std::string> metadata;  // x-amz-meta-*, without the prefix
};

class S3Client {
 public:
  explicit S3Client(S3Endpoint endpoint, HttpTimeouts timeouts = {}, int max_attempts = 3);

  // NotFound for a missing key (404), Unavailable for the store's failures.
  S3Head head(const std::string& bucket, const std::string& key);
  std::string get(const std::string& bucket, const std::string& key, size_t max_bytes = 64u << 20);
  // Bytes [first, last] (inclusive, as HTTP Range), to a string.
  std::string get_range(const std::string& bucket, const std::string& key, uint64_t first, uint64_t last);
  // The whole object to `sink`; a failure after bytes were written is final (not retried).
  void get_to(const std::string& bucket, const std::string& key, const std::function<bool(std::string_view)>& sink);
  std::string put(const std::string& bucket, const std::string& key, const std::string& body,
                  const std::map<std::string, std::string>& metadata = {});
  // Multipart upload of `body` in parts of `part_size` (≥ 5 MiB except the last); aborted on failure.
  std::string put_multipart(const std::string& bucket, const std::string& key, const std::string& body,
                            size_t part_size);
  std::vector<S3Object> list(const std::string& bucket, const std::string& prefix);

  const S3Endpoint& endpoint() const { return endpoint_; }
  CircuitBreaker& breaker() { return breaker_; }
  std::atomic<int> in_flight{0};

  // Test hook: the signing time (default: now).
  std::function<std::string()> amz_date = amz_date_now;

 private:
  struct Prepared {
    HttpRequest request;
  };
  HttpRequest sign(const std::string& method, const std::string& bucket, const std::string& key,
                   const std::string& query, const std::string& body,
                   std::vector<std::pair<std::string, std::string>> extra_headers);
  // One request with retries; `sink` for a streamed 2xx body.
  HttpResponse exchange(const std::string& method, const std::string& bucket, const std::string& key,
                        const std::string& query, const std::string& body,
                        const std::vector<std::pair<std::string, std::string>>& headers, const BodySink& sink = nullptr,
                        size_t max_body = 64u << 20);

  S3Endpoint endpoint_;
  HttpTimeouts timeouts_;
  int max_attempts_;
  CircuitBreaker breaker_;
};

// Several endpoints serving the same buckets (replicas, mirrors, gateways): each call goes to
// the least-loaded endpoint whose breaker is not open, and to the next on a retryable failure.
class S3Pool {
 public:
  explicit S3Pool(std::vector<S3Endpoint> endpoints, HttpTimeouts timeouts = {});
  // Runs `f` on an endpoint, moving on after a retryable failure.
  template <typename F>
  auto with_endpoint(F&& f) -> decltype(f(std::declval<S3Client&>()));
  size_t size() const { return clients_.size(); }
  S3Client& client(size_t i) { return *clients_[i]; }
  std::vector<S3Client*> order();

 private:
  std::vector<std::unique_ptr<S3Client>> clients_;
};

// Downloads every object under `prefix` (a model folder) into `dir`, keeping the relative
// paths; each file's size is checked against the listing. Keys that would leave `dir` (".."
// segments, absolute paths) are refused. Returns the files written.
std::vector<std::string> s3_download_prefix(S3Pool& pool, const std::string& bucket, const std::string& prefix,
                                            const std::string& dir);

// "s3://bucket/prefix" → bucket, prefix (InvalidArgument for anything else).
std::pair<std::string, std::string> parse_s3_url(const std::string& url);

// The XML of ListObjectsV2 read within bounds: the objects, and the continuation token when
// the listing is truncated. Corrupt for a malformed listing.
struct S3ListPage {
  std::vector<S3Object> objects;
  std::optional<std::string> next_token;
};
S3ListPage parse_list_objects_v2(std::string_view xml);

template <typename F>
auto S3Pool::with_endpoint(F&& f) -> decltype(f(std::declval<S3Client&>())) {
  std::exception_ptr last;
  for (S3Client* c : order()) {
    if (!c->breaker().allow()) continue;
    ++c->in_flight;
    try {
      if constexpr (std::is_void_v<decltype(f(*c))>) {
        f(*c);
        --c->in_flight;
        c->breaker().record_success();
        return;
      } else {
        auto r = f(*c);
        --c->in_flight;
        c->breaker().record_success();
        return r;
      }
    } catch (const Error& e) {
      --c->in_flight;
      if (e.kind() != ErrorKind::Unavailable) {
        c->breaker().record_success();
        throw;
      }
      c->breaker().record_failure();
      last = std::current_exception();
    }
  }
  if (last) std::rethrow_exception(last);
  fail(ErrorKind::Unavailable, "no S3 endpoint is available (every breaker is open)");
}

}  // namespace ia::providers
