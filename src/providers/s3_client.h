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
// AWS_ENDPOINT_URL; a custom endpoint is addressed path-style); several
// endpoints, each with its own credentials and region, from a providers file's
// "s3" section (s3_pool_config_from_json).
//
// What is read from a server is bounded: a listing page 16 MiB, an object GET
// into memory its caller's bound, any other answer (PUT, POST, DELETE, HEAD,
// error bodies) 1 MiB.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
  // Where the credentials came from ("env AWS_ACCESS_KEY_ID", "file /run/…"), for messages; never the key.
  std::string credentials_source;

  // The endpoint as messages name it: its URL, or "AWS S3 (REGION)".
  std::string label() const;
  bool has_credentials() const { return !credentials.access_key_id.empty(); }
};

S3Endpoint s3_endpoint_from_env(const EnvLookup& env);

// How an S3Pool spreads its calls: to the endpoint with the fewest calls in flight (ties
// taken in turn), or to each in turn. Either way an endpoint whose breaker is open is skipped.
enum class S3Selection { LeastLoaded, RoundRobin };

struct S3PoolConfig {
  std::vector<S3Endpoint> endpoints;
  S3Selection selection = S3Selection::LeastLoaded;
};

// A providers file's "s3" section:
//   {"strategy": "least_loaded" | "round_robin",
//    "endpoints": [{"url": "http://minio-a:9000", "region": "us-east-1",
//                   "access_key_id": {"env": "NAME"} | {"file": "PATH"},
//                   "secret_access_key": {"env": …} | {"file": …}, "session_token": {…}}, …]}
// Keys are never written in the file. An endpoint without "url" is AWS's (virtual-hosted, by
// region); without credentials it takes the AWS variables', without "region" AWS_REGION's.
// InvalidArgument naming the field for a malformed section; NotFound for an unreadable key file.
S3PoolConfig s3_pool_config_from_json(const nlohmann::json& s3, const EnvLookup& env);

// One endpoint URL (`--endpoint URL`) with the AWS variables' credentials and region.
S3Endpoint s3_endpoint_for_url(const std::string& url, const EnvLookup& env);

struct S3Object {
  std::string key, etag;
  uint64_t size = 0;
};

// One part of a multipart upload as the store has it (ListParts).
struct S3Part {
  int number = 0;
  std::string etag;  // as the store quotes it ("…")
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
  // PUT with Content-MD5 (the store refuses bytes that changed on the way: 400 BadDigest) and
  // `metadata` as x-amz-meta-* headers. Returns the ETag.
  std::string put(const std::string& bucket, const std::string& key, const std::string& body,
                  const std::map<std::string, std::string>& metadata = {});
  // DELETE of one key (S3 answers 204 for a key that is not there too).
  void remove(const std::string& bucket, const std::string& key);
  // Multipart upload of `body` in parts of `part_size` (≥ 5 MiB except the last); aborted on failure.
  std::string put_multipart(const std::string& bucket, const std::string& key, const std::string& body,
                            size_t part_size);
  // The steps of a multipart upload, for callers that send parts from several threads:
  // CreateMultipartUpload (the object's metadata goes here) → the upload id; UploadPart
  // (1 ≤ part_number ≤ 10000, with Content-MD5) → the part's ETag; CompleteMultipartUpload with
  // every part's ETag in order (a 200 carrying an <Error> is an error) → the object's ETag;
  // AbortMultipartUpload, which frees the parts stored so far.
  std::string create_multipart(const std::string& bucket, const std::string& key,
                               const std::map<std::string, std::string>& metadata = {});
  std::string upload_part(const std::string& bucket, const std::string& key, const std::string& upload_id,
                          int part_number, const std::string& body);
  std::string complete_multipart(const std::string& bucket, const std::string& key, const std::string& upload_id,
                                 const std::vector<std::string>& part_etags);
  void abort_multipart(const std::string& bucket, const std::string& key, const std::string& upload_id);
  // ListParts (GET key?uploadId=…, every page): the parts the store has of an upload, by number.
  // NotFound when the upload is gone (404 NoSuchUpload: completed, aborted or expired).
  std::vector<S3Part> list_parts(const std::string& bucket, const std::string& key, const std::string& upload_id);
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
                        size_t max_body = kMaxAnswerBytes);
  static constexpr size_t kMaxAnswerBytes = 1u << 20;  // any answer but an object's bytes or a listing

  S3Endpoint endpoint_;
  HttpTimeouts timeouts_;
  int max_attempts_;
  CircuitBreaker breaker_;
};

// Several endpoints serving the same buckets (replicas, mirrors, gateways): each call goes to
// the least-loaded endpoint whose breaker is not open, and to the next on a retryable failure.
// A failure that is the endpoint's (5xx, timeouts, a refused connection) counts toward its
// breaker; one that is its credentials' (401, 403) benches it at once for `key_cooldown`, as a
// provider's key is benched; the call then moves to the next endpoint. The caller's faults
// (400, 404) are answered as they are.
class S3Pool {
 public:
  explicit S3Pool(std::vector<S3Endpoint> endpoints, HttpTimeouts timeouts = {});
  explicit S3Pool(S3PoolConfig config, HttpTimeouts timeouts = {});
  // Runs `f` on an endpoint, moving on after a retryable failure.
  template <typename F>
  auto with_endpoint(F&& f) -> decltype(f(std::declval<S3Client&>()));
  size_t size() const { return clients_.size(); }
  S3Client& client(size_t i) { return *clients_[i]; }
  // The endpoints in the order the next call tries them.
  std::vector<S3Client*> order();
  std::chrono::milliseconds key_cooldown{60'000};

 private:
  void record_failure(S3Client& c, const Error& e);
  // "ENDPOINT: its last failure; …", for the message when every endpoint is benched.
  std::string last_failures() const;
  std::vector<std::unique_ptr<S3Client>> clients_;
  mutable std::mutex failures_mu_;
  std::map<const S3Client*, std::string> last_failure_;
  S3Selection selection_ = S3Selection::LeastLoaded;
  std::atomic<size_t> turn_{0};
};

// Downloads every object under `prefix` (a model folder) into `dir`, keeping the relative
// paths; each file's size is checked against the listing. Keys that would leave `dir` (".."
// segments, absolute paths) are refused. Returns the files written.
std::vector<std::string> s3_download_prefix(S3Pool& pool, const std::string& bucket, const std::string& prefix,
                                            const std::string& dir);
// The same for `objects` (keys under `prefix`, as a listing gave them), each file a ProgressTask.
std::vector<std::string> s3_download_objects(S3Pool& pool, const std::string& bucket, const std::string& prefix,
                                             const std::vector<S3Object>& objects, const std::string& dir);

// "s3://bucket/prefix" → bucket, prefix (InvalidArgument for anything else).
std::pair<std::string, std::string> parse_s3_url(const std::string& url);

// The XML of ListObjectsV2 read within bounds: the objects, and the continuation token when
// the listing is truncated. Corrupt for a malformed listing.
struct S3ListPage {
  std::vector<S3Object> objects;
  std::optional<std::string> next_token;
};
S3ListPage parse_list_objects_v2(std::string_view xml);

// The XML of one ListParts page read within bounds: its parts, and the next part-number marker
// when the listing is truncated. Corrupt for a malformed page.
struct S3PartsPage {
  std::vector<S3Part> parts;
  std::optional<int> next_marker;
};
S3PartsPage parse_list_parts(std::string_view xml);

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
      record_failure(*c, e);
      last = std::current_exception();
    }
  }
  if (last) std::rethrow_exception(last);
  fail(ErrorKind::Unavailable, "no S3 endpoint is available (each is benched after its failures: {})", last_failures());
}

}  // namespace ia::providers
