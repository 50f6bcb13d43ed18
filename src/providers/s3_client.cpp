#include "providers/s3_client.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "core/base64.h"
#include "core/bounded_json.h"
#include "core/progress.h"
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

std::string S3Endpoint::label() const {
  return endpoint_url.empty() ? "AWS S3 (" + region + ")" : endpoint_url;
}

S3Endpoint s3_endpoint_from_env(const EnvLookup& env) {
  S3Endpoint e;
  auto get = [&env](const char* name) { return env(name).value_or(""); };
  e.credentials.access_key_id = get("AWS_ACCESS_KEY_ID");
  e.credentials.secret_access_key = get("AWS_SECRET_ACCESS_KEY");
  e.credentials.session_token = get("AWS_SESSION_TOKEN");
  if (e.has_credentials()) e.credentials_source = "env AWS_ACCESS_KEY_ID";
  e.region = get("AWS_REGION");
  if (e.region.empty()) e.region = get("AWS_DEFAULT_REGION");
  if (e.region.empty()) e.region = "us-east-1";
  e.endpoint_url = get("AWS_ENDPOINT_URL_S3");
  if (e.endpoint_url.empty()) e.endpoint_url = get("AWS_ENDPOINT_URL");
  while (!e.endpoint_url.empty() && e.endpoint_url.back() == '/') e.endpoint_url.pop_back();
  return e;
}

namespace {

std::string checked_endpoint_url(std::string url, const std::string& where) {
  const bool http = url.rfind("http://", 0) == 0, https = url.rfind("https://", 0) == 0;
  if ((!http && !https) || url.size() <= (http ? 7u : 8u) || url.find_first_of(" \t\r\n?#") != std::string::npos)
    fail(ErrorKind::InvalidArgument, "{}: `{}` is not an http(s) endpoint URL (http://host:port)", where, url);
  while (url.back() == '/') url.pop_back();
  return url;
}

// A secret named by {"env": NAME} or {"file": PATH}; `source` says which (for messages).
std::string secret_from(const nlohmann::json& j, const EnvLookup& env, const std::string& where, std::string* source) {
  if (j.is_object() && j.size() == 1 && j.contains("env") && j["env"].is_string()) {
    const std::string var = j["env"];
    auto v = env(var);
    if (!v || v->empty()) fail(ErrorKind::InvalidArgument, "{}: environment variable {} is not set", where, var);
    if (source) *source = "env " + var;
    return *v;
  }
  if (j.is_object() && j.size() == 1 && j.contains("file") && j["file"].is_string()) {
    const std::string path = j["file"];
    std::string text = read_bounded_file(path, 64 * 1024);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
    if (text.empty()) fail(ErrorKind::InvalidArgument, "{}: key file `{}` is empty", where, path);
    if (source) *source = "file " + path;
    return text;
  }
  fail(ErrorKind::InvalidArgument,
       "{}: expected {{\"env\": \"NAME\"}} or {{\"file\": \"PATH\"}} (keys are never written in this file)", where);
}

}  // namespace

S3Endpoint s3_endpoint_for_url(const std::string& url, const EnvLookup& env) {
  S3Endpoint e = s3_endpoint_from_env(env);
  e.endpoint_url = checked_endpoint_url(url, "--endpoint");
  return e;
}

S3PoolConfig s3_pool_config_from_json(const nlohmann::json& s3, const EnvLookup& env) {
  if (!s3.is_object()) fail(ErrorKind::InvalidArgument, "s3: expected an object with \"endpoints\"");
  for (const auto& [k, _] : s3.items())
    if (k != "endpoints" && k != "strategy")
      fail(ErrorKind::InvalidArgument, "s3: unknown field `{}` (endpoints, strategy)", k);
  S3PoolConfig c;
  if (auto it = s3.find("strategy"); it != s3.end()) {
    if (*it == "least_loaded")
      c.selection = S3Selection::LeastLoaded;
    else if (*it == "round_robin")
      c.selection = S3Selection::RoundRobin;
    else
      fail(ErrorKind::InvalidArgument, "s3.strategy: expected \"least_loaded\" or \"round_robin\"");
  }
  auto eps = s3.find("endpoints");
  if (eps == s3.end() || !eps->is_array() || eps->empty())
    fail(ErrorKind::InvalidArgument, "s3.endpoints: expected a non-empty array of endpoint objects");
  if (eps->size() > 64) fail(ErrorKind::InvalidArgument, "s3.endpoints: at most 64 endpoints");
  const S3Endpoint from_env = s3_endpoint_from_env(env);
  for (size_t i = 0; i < eps->size(); ++i) {
    const auto& j = (*eps)[i];
    const std::string where = fmt::format("s3.endpoints[{}]", i);
    if (!j.is_object()) fail(ErrorKind::InvalidArgument, "{}: expected an object", where);
    for (const auto& [k, _] : j.items())
      if (k != "url" && k != "region" && k != "access_key_id" && k != "secret_access_key" && k != "session_token")
        fail(ErrorKind::InvalidArgument,
             "{}: unknown field `{}` (url, region, access_key_id, secret_access_key, session_token)", where, k);
    S3Endpoint e = from_env;
    e.endpoint_url.clear();
    if (auto u = j.find("url"); u != j.end()) {
      if (!u->is_string()) fail(ErrorKind::InvalidArgument, "{}.url: expected a string", where);
      e.endpoint_url = checked_endpoint_url(*u, where + ".url");
    }
    if (auto r = j.find("region"); r != j.end()) {
      if (!r->is_string() || r->get<std::string>().empty() || r->get<std::string>().size() > 64)
        fail(ErrorKind::InvalidArgument, "{}.region: expected a region name", where);
      e.region = *r;
    }
    const bool id = j.contains("access_key_id"), secret = j.contains("secret_access_key");
    if (id != secret)
      fail(ErrorKind::InvalidArgument, "{}: give both access_key_id and secret_access_key, or neither", where);
    if (id) {
      e.credentials.access_key_id =
          secret_from(j["access_key_id"], env, where + ".access_key_id", &e.credentials_source);
      e.credentials.secret_access_key = secret_from(j["secret_access_key"], env, where + ".secret_access_key", nullptr);
      e.credentials.session_token.clear();
      if (j.contains("session_token"))
        e.credentials.session_token = secret_from(j["session_token"], env, where + ".session_token", nullptr);
    } else if (j.contains("session_token")) {
      fail(ErrorKind::InvalidArgument, "{}.session_token: needs access_key_id and secret_access_key", where);
    }
    c.endpoints.push_back(std::move(e));
  }
  return c;
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

namespace {

// A decimal in [lo, hi], or Corrupt naming the element.
uint64_t xml_number(std::string_view text, const char* what, uint64_t lo, uint64_t hi) {
  const std::string s(text);
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos)
    fail(ErrorKind::Corrupt, "S3 ListParts: bad <{}> `{}`", what, s.substr(0, 32));
  const uint64_t v = std::stoull(s);
  if (v < lo || v > hi) fail(ErrorKind::Corrupt, "S3 ListParts: <{}> {} is outside {}..{}", what, v, lo, hi);
  return v;
}

}  // namespace

S3PartsPage parse_list_parts(std::string_view xml) {
  if (xml.size() > kMaxListBytes) fail(ErrorKind::Corrupt, "S3 ListParts answer larger than {} bytes", kMaxListBytes);
  if (xml.find("<ListPartsResult") == std::string_view::npos)
    fail(ErrorKind::Corrupt, "S3 ListParts: no <ListPartsResult>");
  S3PartsPage page;
  size_t pos = 0;
  while (true) {
    const size_t a = xml.find("<Part>", pos);
    if (a == std::string_view::npos) break;
    const size_t b = xml.find("</Part>", a);
    if (b == std::string_view::npos) fail(ErrorKind::Corrupt, "S3 ListParts: <Part> is not closed");
    if (page.parts.size() >= 10000) fail(ErrorKind::Corrupt, "S3 ListParts: more than 10000 parts in a page");
    S3Part p;
    auto number = element(xml, "PartNumber", a, b);
    auto etag = element(xml, "ETag", a, b);
    auto size = element(xml, "Size", a, b);
    if (!number || !etag || !size) fail(ErrorKind::Corrupt, "S3 ListParts: a part without PartNumber, ETag or Size");
    p.number = static_cast<int>(xml_number(*number, "PartNumber", 1, 10000));
    p.etag = xml_unescape(*etag);
    p.size = xml_number(*size, "Size", 0, uint64_t{5} << 30);
    page.parts.push_back(std::move(p));
    pos = b + 7;
  }
  auto truncated = element(xml, "IsTruncated");
  if (truncated && *truncated == "true") {
    auto marker = element(xml, "NextPartNumberMarker");
    if (!marker) fail(ErrorKind::Corrupt, "S3 ListParts: truncated without a NextPartNumberMarker");
    page.next_marker = static_cast<int>(xml_number(*marker, "NextPartNumberMarker", 1, 10000));
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
      if (method != "POST" || o.response.body.find("<Error>") > 64) return o.response;
      const ErrorBody e = parse_error_body(o.response.body);
      c = s3_class(500, e.code);
      message = fmt::format("S3 {} {}/{} at {}: {} ({})", method, bucket, key, endpoint_.label(), e.message, e.code);
    } else if (st != 0 && (st < 200 || st >= 300)) {
      const ErrorBody e = parse_error_body(o.response.body);  // HEAD errors have no body
      c = s3_class(static_cast<int>(st), e.code);
      message = fmt::format("S3 {} {}/{} at {}: HTTP {}{}", method, bucket, key, endpoint_.label(), st,
                            e.message.empty() ? "" : ": " + e.message + " (" + e.code + ")");
      hint = retry_hint_from_headers(o.response.headers, std::chrono::system_clock::now());
      if (st == 404) fail(ErrorKind::NotFound, "{}", message);
    } else {
      c = FailureClass::Transient;
      message = fmt::format("S3 {} {}/{} at {}: {}", method, bucket, key, endpoint_.label(), o.error);
    }
    if (c == FailureClass::KeyFault)
      message +=
          endpoint_.has_credentials()
              ? fmt::format(" (check the credentials, {}, and the bucket's policy)", endpoint_.credentials_source)
              : std::string(" (no credentials were given: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
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
  headers.emplace_back("content-md5", base64_encode(md5_raw(body)));
  for (const auto& [k, v] : metadata) headers.emplace_back("x-amz-meta-" + k, v);
  return exchange("PUT", bucket, key, "", body, headers).header("etag");
}

void S3Client::remove(const std::string& bucket, const std::string& key) {
  try {
    exchange("DELETE", bucket, key, "", "", {});
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::NotFound) throw;  // some stores answer 404 for a missing key
  }
}

std::string S3Client::create_multipart(const std::string& bucket, const std::string& key,
                                       const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [k, v] : metadata) headers.emplace_back("x-amz-meta-" + k, v);
  const HttpResponse init = exchange("POST", bucket, key, "uploads", "", headers);
  const auto id = element(init.body, "UploadId");
  if (!id || id->empty()) fail(ErrorKind::Corrupt, "S3 CreateMultipartUpload {}/{}: no <UploadId>", bucket, key);
  return xml_unescape(*id);
}

std::string S3Client::upload_part(const std::string& bucket, const std::string& key, const std::string& upload_id,
                                  int part_number, const std::string& body) {
  if (part_number < 1 || part_number > 10000)
    fail(ErrorKind::InvalidArgument, "S3 multipart: part number {} is outside 1..10000", part_number);
  const HttpResponse r = exchange(
      "PUT", bucket, key, fmt::format("partNumber={}&uploadId={}", part_number, percent_encode(upload_id, false)), body,
      {{"content-md5", base64_encode(md5_raw(body))}});
  std::string etag = r.header("etag");
  if (etag.empty()) fail(ErrorKind::Corrupt, "S3 UploadPart {}/{} part {}: no ETag", bucket, key, part_number);
  return etag;
}

std::string S3Client::complete_multipart(const std::string& bucket, const std::string& key,
                                         const std::string& upload_id, const std::vector<std::string>& part_etags) {
  std::string xml = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < part_etags.size(); ++i) {
    std::string etag;  // XML-escaped: an ETag is quoted ("…")
    for (char ch : part_etags[i])
      etag += ch == '"' ? std::string("&quot;") : ch == '&' ? "&amp;" : ch == '<' ? "&lt;" : std::string(1, ch);
    xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1, etag);
  }
  xml += "</CompleteMultipartUpload>";
  const HttpResponse done = exchange("POST", bucket, key, "uploadId=" + percent_encode(upload_id, false), xml,
                                     {{"content-type", "application/xml"}});
  const auto etag = element(done.body, "ETag");
  return etag ? xml_unescape(*etag) : std::string();
}

void S3Client::abort_multipart(const std::string& bucket, const std::string& key, const std::string& upload_id) {
  exchange("DELETE", bucket, key, "uploadId=" + percent_encode(upload_id, false), "", {});
}

std::vector<S3Part> S3Client::list_parts(const std::string& bucket, const std::string& key,
                                         const std::string& upload_id) {
  std::vector<S3Part> out;
  int marker = 0;
  // At most 10,000 parts, at least one more per page: the pages are bounded.
  for (int page = 0; page <= 10000; ++page) {
    std::string q = marker > 0 ? fmt::format("part-number-marker={}&", marker) : std::string();
    q += "uploadId=" + percent_encode(upload_id, false);
    const HttpResponse r = exchange("GET", bucket, key, q, "", {}, nullptr, kMaxListBytes);
    S3PartsPage p = parse_list_parts(r.body);
    for (auto& part : p.parts) out.push_back(std::move(part));
    if (!p.next_marker) return out;
    if (*p.next_marker <= marker)
      fail(ErrorKind::Corrupt, "S3 ListParts {}/{}: the part-number marker went back ({} after {})", bucket, key,
           *p.next_marker, marker);
    marker = *p.next_marker;
  }
  fail(ErrorKind::Corrupt, "S3 ListParts {}/{}: more pages than parts", bucket, key);
}

std::string S3Client::put_multipart(const std::string& bucket, const std::string& key, const std::string& body,
                                    size_t part_size) {
  if (part_size == 0 || (part_size < (5u << 20) && body.size() > part_size))
    fail(ErrorKind::InvalidArgument, "multipart parts must be at least 5 MiB (except the last)");
  const std::string upload_id = create_multipart(bucket, key);
  try {
    std::vector<std::string> etags;
    for (size_t off = 0; off < body.size() || etags.empty(); off += part_size)
      etags.push_back(
          upload_part(bucket, key, upload_id, static_cast<int>(etags.size() + 1), body.substr(off, part_size)));
    return complete_multipart(bucket, key, upload_id, etags);
  } catch (...) {
    try {
      abort_multipart(bucket, key, upload_id);
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

S3Pool::S3Pool(std::vector<S3Endpoint> endpoints, HttpTimeouts timeouts)
    : S3Pool(S3PoolConfig{std::move(endpoints), S3Selection::LeastLoaded}, timeouts) {}

S3Pool::S3Pool(S3PoolConfig config, HttpTimeouts timeouts) : selection_(config.selection) {
  for (auto& e : config.endpoints) clients_.push_back(std::make_unique<S3Client>(std::move(e), timeouts));
  if (clients_.empty()) fail(ErrorKind::InvalidArgument, "no S3 endpoint configured");
}

std::vector<S3Client*> S3Pool::order() {
  std::vector<S3Client*> out;
  const size_t n = clients_.size(), start = turn_.fetch_add(1, std::memory_order_relaxed) % n;
  for (size_t i = 0; i < n; ++i) out.push_back(clients_[(start + i) % n].get());  // ties taken in turn
  std::stable_sort(out.begin(), out.end(), [this](S3Client* a, S3Client* b) {
    const bool ao = a->breaker().state() == BreakerState::Open, bo = b->breaker().state() == BreakerState::Open;
    if (ao != bo) return bo;
    return selection_ == S3Selection::LeastLoaded && a->in_flight < b->in_flight;
  });
  return out;
}

void S3Pool::record_failure(S3Client& c, const Error& e) {
  {
    std::lock_guard lock(failures_mu_);
    last_failure_[&c] = e.what();
  }
  const auto* p = dynamic_cast<const ProviderError*>(&e);
  if (p && p->failure() == FailureClass::KeyFault)
    c.breaker().trip(key_cooldown);  // its credentials are refused there: bench it, as a key
  else
    c.breaker().record_failure();
}

std::string S3Pool::last_failures() const {
  std::lock_guard lock(failures_mu_);
  std::string out;
  for (const auto& c : clients_) {
    auto it = last_failure_.find(c.get());
    out += (out.empty() ? "" : "; ") + c->endpoint().label() + ": " +
           (it == last_failure_.end() ? std::string("benched") : it->second);
  }
  return out;
}

namespace {

// `rel` as a path under the folder, or Corrupt when the key would leave it.
std::filesystem::path relative_path_of(const std::string& rel, const std::string& bucket, const std::string& prefix,
                                       const std::string& key) {
  const std::filesystem::path relp(rel);
  if (relp.is_absolute() || rel.find('\\') != std::string::npos || rel.find('\0') != std::string::npos)
    fail(ErrorKind::Corrupt, "s3://{}/{}: refusing key `{}` (leaves the folder)", bucket, prefix, key);
  for (const auto& part : relp)
    if (part == ".." || part == ".")
      fail(ErrorKind::Corrupt, "s3://{}/{}: refusing key `{}` (leaves the folder)", bucket, prefix, key);
  return relp;
}

}  // namespace

std::vector<std::string> s3_download_prefix(S3Pool& pool, const std::string& bucket, const std::string& prefix,
                                            const std::string& dir) {
  std::string p = prefix;
  if (!p.empty() && p.back() != '/') p += '/';
  const std::vector<S3Object> objects = pool.with_endpoint([&](S3Client& c) { return c.list(bucket, p); });
  if (objects.empty()) fail(ErrorKind::NotFound, "s3://{}/{}: no objects under this prefix", bucket, p);
  return s3_download_objects(pool, bucket, p, objects, dir);
}

std::vector<std::string> s3_download_objects(S3Pool& pool, const std::string& bucket, const std::string& prefix,
                                             const std::vector<S3Object>& objects, const std::string& dir) {
  namespace fs = std::filesystem;
  std::string p = prefix;
  if (!p.empty() && p.back() != '/') p += '/';
  std::vector<std::string> written;
  for (const S3Object& o : objects) {
    if (o.key.rfind(p, 0) != 0)
      fail(ErrorKind::Corrupt, "s3://{}/{}: the listing holds `{}`, outside the prefix", bucket, p, o.key);
    const std::string rel = o.key.substr(p.size());
    if (rel.empty() || rel.back() == '/') continue;  // a "folder" marker
    const fs::path dest = fs::path(dir) / relative_path_of(rel, bucket, p, o.key);
    fs::create_directories(dest.parent_path());
    const fs::path partial = dest.string() + ".partial";
    ProgressTask task(fmt::format("downloading s3://{}/{}", bucket, o.key), o.size, ProgressUnit::Bytes);
    pool.with_endpoint([&](S3Client& c) {
      std::ofstream f(partial, std::ios::binary | std::ios::trunc);
      if (!f) fail(ErrorKind::Unavailable, "cannot write {}", partial.string());
      uint64_t n = 0;
      task.set_done(0);
      c.get_to(bucket, o.key, [&](std::string_view b) {
        n += b.size();
        if (n > o.size) return false;  // more than the listing said: stop, refused below
        f.write(b.data(), static_cast<std::streamsize>(b.size()));
        task.advance(b.size());
        return static_cast<bool>(f);
      });
      f.close();
      if (n != o.size)
        fail(ErrorKind::Corrupt, "s3://{}/{}: {} bytes received, the listing says {}", bucket, o.key, n, o.size);
    });
    fs::rename(partial, dest);
    task.finish();
    written.push_back(dest.string());
  }
  return written;
}

}  // namespace ia::providers
