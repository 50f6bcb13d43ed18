#include "providers/s3_client.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "providers/backoff.h"
#include "providers/provider_error.h"
#include "providers/retry_hints.h"

namespace ia::providers {

namespace {

constexpr size_t kMaxListBytes = 16u << 20;
constexpr size_t kMaxListPages = 10000;

std::string host_of(const std::string& url) {
  const size_t s = url.find("://");
  const size_t start = s == std::string::npos ? 0 : s + 3;
  const size_t end = url.find('/', start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string xml_unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    const std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp")
      out += '&';
    else if (ent == "lt")
      out += '<';
    else if (ent == "gt")
      out += '>';
    else if (ent == "quot")
      out += '"';
    else if (ent == "apos")
      out += '\'';
    else if (!ent.empty() && ent[0] == '#') {
      const bool hexa = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X');
      const long cp = std::strtol(std::string(ent.substr(hexa ? 2 : 1)).c_str(), nullptr, hexa ? 16 : 10);
      if (cp <= 0 || cp > 0x10FFFF) {
        out += '?';
      } else if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    } else {
      out += s.substr(i, semi - i + 1);
    }
    i = semi;
  }
  return out;
}

// The text of the first <tag>…</tag> in [from, to); npos when absent.
std::optional<std::string_view> element(std::string_view xml, std::string_view tag, size_t from = 0,
                                        size_t to = std::string_view::npos) {
  const std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  const size_t a = xml.find(open, from);
  if (a == std::string_view::npos || (to != std::string_view::npos && a >= to)) return std::nullopt;
  const size_t start = a + open.size();
  const size_t b = xml.find(close, start);
  if (b == std::string_view::npos || (to != std::string_view::npos && b > to))
    fail(ErrorKind::Corrupt, "S3 listing: <{}> is not closed", tag);
  return xml.substr(start, b - start);
}

// The retry class of an S3 error answer (s3.md's table).
FailureClass s3_class(int status, const std::string& code) {
  if (status == 400 && (code == "RequestTimeout" || code == "RequestTimeoutException")) return FailureClass::Transient;
  if (status == 409 && code == "OperationAborted") return FailureClass::Transient;
  if (code == "SlowDown" || code == "Throttling" || code == "ThrottlingException" || code == "RequestLimitExceeded" ||
      code == "TooManyRequestsException")
    return FailureClass::RateLimited;
  if (status == 403 && code == "RequestTimeTooSkewed") return FailureClass::CallerFault;
  if (status >= 500) return FailureClass::Overloaded;
  if (status == 429) return FailureClass::RateLimited;
  if (status == 401 || status == 403) return FailureClass::KeyFault;
  return FailureClass::CallerFault;
}

}  // namespace

S3Endpoint s3_endpoint_from_env(const EnvLookup& env) {
  S3Endpoint e;
  auto get = [&env](const char* name) { return env(name).value_or(""); };
  e.credentials.access_key_id = get("AWS_ACCESS_KEY_ID");
  e.credentials.secret_access_key = get("AWS_SECRET_ACCESS_KEY");
  e.credentials.session_token = get("AWS_SESSION_TOKEN");
  e.region = get("AWS_REGION");
  if (e.region.empty()) e.region = get("AWS_DEFAULT_REGION");
  if (e.region.empty()) e.region = "us-east-1";
  e.endpoint_url = get("AWS_ENDPOINT_URL_S3");
  if (e.endpoint_url.empty()) e.endpoint_url = get("AWS_ENDPOINT_URL");
  while (!e.endpoint_url.empty() && e.endpoint_url.back() == '/') e.endpoint_url.pop_back();
  return e;
}

std::pair<std::string, std::string> parse_s3_url(const std::string& url) {
  if (url.rfind("s3://", 0) != 0) fail(ErrorKind::InvalidArgument, "`{}` is not an s3://bucket/prefix URL", url);
  const std::string rest = url.substr(5);
  const size_t slash = rest.find('/');
  std::string bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (bucket.empty()) fail(ErrorKind::InvalidArgument, "`{}` names no bucket", url);
  return {bucket, prefix};
}

S3ListPage parse_list_objects_v2(std::string_view xml) {
  if (xml.size() > kMaxListBytes) fail(ErrorKind::Corrupt, "S3 listing larger than {} bytes", kMaxListBytes);
  if (xml.find("<ListBucketResult") == std::string_view::npos)
    fail(ErrorKind::Corrupt, "S3 listing: no <ListBucketResult>");
  S3ListPage page;
  size_t pos = 0;
  while (true) {
    const size_t a = xml.find("<Contents>", pos);
    if (a == std::string_view::npos) break;
    const size_t b = xml.find("</Contents>", a);
    if (b == std::string_view::npos) fail(ErrorKind::Corrupt, "S3 listing: <Contents> is not closed");
    S3Object o;
    auto key = element(xml, "Key", a, b);
    if (!key) fail(ErrorKind::Corrupt, "S3 listing: an object without <Key>");
    o.key = xml_unescape(*key);
    if (auto size = element(xml, "Size", a, b)) {
      const std::string s(*size);
      if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos)
        fail(ErrorKind::Corrupt, "S3 listing: bad <Size> `{}`", s);
      o.size = std::stoull(s);
    }
    if (auto etag = element(xml, "ETag", a, b)) o.etag = xml_unescape(*etag);
    page.objects.push_back(std::move(o));
    pos = b + 11;
  }
  auto truncated = element(xml, "IsTruncated");
  if (truncated && *truncated == "true") {
    auto token = element(xml, "NextContinuationToken");
    if (!token || token->empty()) fail(ErrorKind::Corrupt, "S3 listing: truncated without a continuation token");
    page.next_token = xml_unescape(*token);
  }
  return page;
}

S3Client::S3Client(S3Endpoint endpoint, HttpTimeouts timeouts, int max_attempts)
    : endpoint_(std::move(endpoint)),
      timeouts_(timeouts),
      max_attempts_(std::max(1, max_attempts)),
      breaker_(5, std::chrono::seconds(30)) {}

HttpRequest S3Client::sign(const std::string& method, const std::string& bucket, const std::string& key,
                           const std::string& query, const std::string& body,
                           std::vector<std::pair<std::string, std::string>> extra_headers) {
  std::string base, path;
  if (endpoint_.endpoint_url.empty()) {
    base = "https://" + bucket + ".s3." + endpoint_.region + ".amazonaws.com";
    path = "/" + key;
  } else {
    base = endpoint_.endpoint_url;
    path = "/" + bucket + "/" + key;
  }
  const std::string date = amz_date();
  const std::string payload = sha256_hex(body);
  SigV4Request sr;
  sr.method = method;
  sr.path = path;
  sr.query = query;
  sr.payload_hash = payload;
  sr.headers = {{"host", host_of(base)}, {"x-amz-date", date}, {"x-amz-content-sha256", payload}};
  if (!endpoint_.credentials.session_token.empty())
    sr.headers.emplace_back("x-amz-security-token", endpoint_.credentials.session_token);
  for (const auto& h : extra_headers) sr.headers.push_back(h);
  HttpRequest req;
  req.method = method;
  req.url = base + percent_encode(path, true) + (query.empty() ? "" : "?" + query);
  req.body = body;
  for (const auto& h : sr.headers)
    if (h.first != "host") req.headers.push_back(h);
  if (!endpoint_.credentials.access_key_id.empty()) {
    const SigV4Signature sig = sigv4_sign(sr, endpoint_.credentials, endpoint_.region, "s3", date);
    req.headers.emplace_back("Authorization", sig.authorization);
  }
  return req;
}

HttpResponse S3Client::exchange(const std::string& method, const std::string& bucket, const std::string& key,
                                const std::string& query, const std::string& body,
                                const std::vector<std::pair<std::string, std::string>>& headers, const BodySink& sink,
                                size_t max_body) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  BackoffPolicy policy;
  policy.cap = std::chrono::seconds(20);  // the AWS SDKs' standard mode
  for (int attempt = 0;; ++attempt) {
    bool wrote = false;
    const BodySink counting = sink ? BodySink([&](const HttpResponse& h, std::string_view b) {
      wrote = true;
      return sink(h, b);
    })
                                   : BodySink();
    const HttpOutcome o = http_send(sign(method, bucket, key, query, body, headers), timeouts_, counting, max_body);
    const long st = o.response.status;
    FailureClass c;
    std::string message;
    std::optional<std::chrono::milliseconds> hint;
    if (st >= 200 && st < 300 && o.failure == TransportFailure::None) {
      // CompleteMultipartUpload can answer 200 with an <Error> body.
      if (o.response.body.rfind("<Error>") == std::string::npos || o.response.body.find("<Error>") > 64)
        return o.response;
      const ErrorBody e = parse_error_body(o.response.body);
      c = s3_class(500, e.code);
      message = fmt::format("S3 {} {}/{}: {} ({})", method, bucket, key, e.message, e.code);
    } else if (st != 0 && (st < 200 || st >= 300)) {
      const ErrorBody e = parse_error_body(o.response.body);  // HEAD errors have no body
      c = s3_class(static_cast<int>(st), e.code);
      message = fmt::format("S3 {} {}/{}: HTTP {}{}", method, bucket, key, st,
                            e.message.empty() ? "" : ": " + e.message + " (" + e.code + ")");
      hint = retry_hint_from_headers(o.response.headers, std::chrono::system_clock::now());
      if (st == 404) fail(ErrorKind::NotFound, "{}", message);
    } else {
      c = FailureClass::Transient;
      message = fmt::format("S3 {} {}/{}: {}", method, bucket, key, o.error);
    }
    if (!is_retryable(c) || wrote || attempt + 1 >= max_attempts_)
      throw ProviderError(c, static_cast<int>(st), message, hint);
    std::this_thread::sleep_for(backoff_delay(policy, attempt, hint, rng));
  }
}

S3Head S3Client::head(const std::string& bucket, const std::string& key) {
  const HttpResponse r = exchange("HEAD", bucket, key, "", "", {});
  S3Head h;
  const std::string len = r.header("content-length");
  if (!len.empty() && len.find_first_not_of("0123456789") == std::string::npos && len.size() <= 20)
    h.size = std::stoull(len);
  h.etag = r.header("etag");
  h.content_type = r.header("content-type");
  for (const auto& [name, value] : r.headers)
    if (name.rfind("x-amz-meta-", 0) == 0) h.metadata[name.substr(11)] = value;
  return h;
}

std::string S3Client::get(const std::string& bucket, const std::string& key, size_t max_bytes) {
  return exchange("GET", bucket, key, "", "", {}, nullptr, max_bytes).body;
}

std::string S3Client::get_range(const std::string& bucket, const std::string& key, uint64_t first, uint64_t last) {
  if (last < first) fail(ErrorKind::InvalidArgument, "byte range {}-{} is empty", first, last);
  const HttpResponse r = exchange("GET", bucket, key, "", "", {{"range", fmt::format("bytes={}-{}", first, last)}},
                                  nullptr, static_cast<size_t>(std::min<uint64_t>(last - first + 1, 1ull << 32)));
  if (r.status != 206)
    fail(ErrorKind::Corrupt, "S3 GET {}/{}: asked for bytes {}-{}, got status {} (no 206 Partial Content)", bucket, key,
         first, last, r.status);
  return r.body;
}

void S3Client::get_to(const std::string& bucket, const std::string& key,
                      const std::function<bool(std::string_view)>& sink) {
  exchange("GET", bucket, key, "", "", {}, [&](const HttpResponse&, std::string_view b) { return sink(b); });
}

std::string S3Client::put(const std::string& bucket, const std::string& key, const std::string& body,
                          const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [k, v] : metadata) headers.emplace_back("x-amz-meta-" + k, v);
  return exchange("PUT", bucket, key, "", body, headers).header("etag");
}

std::string S3Client::put_multipart(const std::string& bucket, const std::string& key, const std::string& body,
                                    size_t part_size) {
  if (part_size < (5u << 20) && body.size() > part_size)
    fail(ErrorKind::InvalidArgument, "multipart parts must be at least 5 MiB (except the last)");
  const HttpResponse init = exchange("POST", bucket, key, "uploads", "", {});
  const auto id = element(init.body, "UploadId");
  if (!id || id->empty()) fail(ErrorKind::Corrupt, "S3 CreateMultipartUpload: no <UploadId>");
  const std::string upload_id = xml_unescape(*id);
  const std::string idq = "uploadId=" + percent_encode(upload_id, false);
  try {
    std::string complete = "<CompleteMultipartUpload>";
    size_t n = 1;
    for (size_t off = 0; off < body.size() || n == 1; off += part_size, ++n) {
      const std::string part = body.substr(off, part_size);
      const HttpResponse r = exchange("PUT", bucket, key, fmt::format("partNumber={}&{}", n, idq), part, {});
      complete += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", n, r.header("etag"));
      if (off + part_size >= body.size()) break;
    }
    complete += "</CompleteMultipartUpload>";
    const HttpResponse done = exchange("POST", bucket, key, idq, complete, {{"content-type", "application/xml"}});
    const auto etag = element(done.body, "ETag");
    return etag ? xml_unescape(*etag) : std::string();
  } catch (...) {
    try {
      exchange("DELETE", bucket, key, idq, "", {});
    } catch (...) {
    }
    throw;
  }
}

std::vector<S3Object> S3Client::list(const std::string& bucket, const std::string& prefix) {
  std::vector<S3Object> out;
  std::optional<std::string> token;
  for (size_t page = 0; page < kMaxListPages; ++page) {
    std::string q = "list-type=2&prefix=" + percent_encode(prefix, false);
    if (token) q += "&continuation-token=" + percent_encode(*token, false);
    const HttpResponse r = exchange("GET", bucket, "", q, "", {}, nullptr, kMaxListBytes);
    S3ListPage p = parse_list_objects_v2(r.body);
    for (auto& o : p.objects) out.push_back(std::move(o));
    if (!p.next_token) return out;
    token = p.next_token;
  }
  fail(ErrorKind::Corrupt, "S3 listing of {}/{}: more than {} pages", bucket, prefix, kMaxListPages);
}

S3Pool::S3Pool(std::vector<S3Endpoint> endpoints, HttpTimeouts timeouts) {
  for (auto& e : endpoints) clients_.push_back(std::make_unique<S3Client>(std::move(e), timeouts));
  if (clients_.empty()) fail(ErrorKind::InvalidArgument, "no S3 endpoint configured");
}

std::vector<S3Client*> S3Pool::order() {
  std::vector<S3Client*> out;
  for (auto& c : clients_) out.push_back(c.get());
  std::stable_sort(out.begin(), out.end(), [](S3Client* a, S3Client* b) {
    const bool ao = a->breaker().state() == BreakerState::Open, bo = b->breaker().state() == BreakerState::Open;
    if (ao != bo) return bo;
    return a->in_flight < b->in_flight;
  });
  return out;
}

std::vector<std::string> s3_download_prefix(S3Pool& pool, const std::string& bucket, const std::string& prefix,
                                            const std::string& dir) {
  namespace fs = std::filesystem;
  std::string p = prefix;
  if (!p.empty() && p.back() != '/') p += '/';
  const std::vector<S3Object> objects = pool.with_endpoint([&](S3Client& c) { return c.list(bucket, p); });
  if (objects.empty()) fail(ErrorKind::NotFound, "s3://{}/{}: no objects under this prefix", bucket, p);
  std::vector<std::string> written;
  for (const S3Object& o : objects) {
    const std::string rel = o.key.substr(p.size());
    if (rel.empty() || rel.back() == '/') continue;  // a "folder" marker
    const fs::path relp(rel);
    if (relp.is_absolute() || rel.find('\\') != std::string::npos)
      fail(ErrorKind::Corrupt, "s3://{}/{}: refusing key `{}` (leaves the folder)", bucket, p, o.key);
    for (const auto& part : relp)
      if (part == ".." || part == ".")
        fail(ErrorKind::Corrupt, "s3://{}/{}: refusing key `{}` (leaves the folder)", bucket, p, o.key);
    const fs::path dest = fs::path(dir) / relp;
    fs::create_directories(dest.parent_path());
    const fs::path partial = dest.string() + ".partial";
    pool.with_endpoint([&](S3Client& c) {
      std::ofstream f(partial, std::ios::binary | std::ios::trunc);
      if (!f) fail(ErrorKind::Unavailable, "cannot write {}", partial.string());
      uint64_t n = 0;
      c.get_to(bucket, o.key, [&](std::string_view b) {
        n += b.size();
        if (n > o.size) return false;  // more than the listing said: stop, refused below
        f.write(b.data(), static_cast<std::streamsize>(b.size()));
        return static_cast<bool>(f);
      });
      f.close();
      if (n != o.size)
        fail(ErrorKind::Corrupt, "s3://{}/{}: {} bytes received, the listing says {}", bucket, o.key, n, o.size);
    });
    fs::rename(partial, dest);
    written.push_back(dest.string());
  }
  return written;
}

}  // namespace ia::providers
