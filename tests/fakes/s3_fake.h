#pragma once
// A protocol fake of an S3-compatible store (path-style, as MinIO serves it) on
// 127.0.0.1: GET (with one Range), HEAD (errors without a body), PUT,
// multipart upload (initiate, parts, complete, abort, ListParts paged at `parts_page_size`),
// DELETE and ListObjectsV2
// paged at `page_size` keys, errors as S3's XML. It checks every request's
// SigV4 signature against the request as it arrived (host, raw path and query,
// the signed headers, the body's hash), answering 403 SignatureDoesNotMatch as
// S3 does, and checks what S3 checks of an upload: Content-MD5 and
// x-amz-checksum-sha256 against the body (400 BadDigest / InvalidDigest), part
// numbers 1..10000, a CompleteMultipartUpload's part list (ascending, each part
// uploaded with that ETag: InvalidPartOrder / InvalidPart) and every part but the
// last at least `min_part_size` (EntityTooSmall; S3's is 5 MiB). Objects keep
// their x-amz-meta-* metadata (from the PUT or the initiation) and S3's ETags
// (the MD5 of a single-part object; the MD5 of the parts' MD5s and "-N" for N
// parts). It can be scripted to answer 503 SlowDown first, 500 to one part
// number (`fail_part`), 403 AccessDenied to every write (`deny_writes`), and to
// damage a stored object's bytes in place (`corrupt_object`).
#include <atomic>
#include <cctype>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "core/base64.h"
#include "providers/sigv4.h"

namespace ia::test {

class FakeS3 {
 public:
  FakeS3(std::string access_key, std::string secret, std::string region = "us-east-1") {
    add_endpoint(std::move(access_key), std::move(secret), std::move(region));
  }
  ~FakeS3() {
    for (auto& l : listeners_) {
      l->http.stop();
      l->thread.join();
    }
  }
  // Another endpoint of the same store (a gateway or node of one cluster: the same buckets) that
  // takes its own credentials and region. Returns its URL.
  std::string add_endpoint(std::string access_key, std::string secret, std::string region = "us-east-1") {
    auto l = std::make_unique<Listener>();
    l->creds = {std::move(access_key), std::move(secret), ""};
    l->region = std::move(region);
    Listener* raw = l.get();
    raw->http.set_keep_alive_max_count(1);
    auto handler = [this, raw](const httplib::Request& req, httplib::Response& res) { handle(*raw, req, res); };
    raw->http.Get(".*", handler);
    raw->http.Put(".*", handler);
    raw->http.Post(".*", handler);
    raw->http.Delete(".*", handler);
    raw->port = raw->http.bind_to_any_port("127.0.0.1");
    raw->thread = std::thread([raw] { raw->http.listen_after_bind(); });
    while (!raw->http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    listeners_.push_back(std::move(l));
    return url(listeners_.size() - 1);
  }
  std::string url(size_t endpoint = 0) const {
    return "http://127.0.0.1:" + std::to_string(listeners_[endpoint]->port);
  }
  int requests_at(size_t endpoint) const { return listeners_[endpoint]->requests; }
  // Stores an object as another client's single-part PUT would (no metadata).
  void put_object(const std::string& bucket, const std::string& key, const std::string& body) {
    std::lock_guard lock(mu_);
    objects_[bucket + "/" + key] = Object{body, md5_hex(body), {}};
  }
  std::optional<std::string> object(const std::string& bucket, const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = objects_.find(bucket + "/" + key);
    if (it == objects_.end()) return std::nullopt;
    return it->second.body;
  }
  std::map<std::string, std::string> metadata(const std::string& bucket, const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = objects_.find(bucket + "/" + key);
    return it == objects_.end() ? std::map<std::string, std::string>{} : it->second.metadata;
  }
  std::string etag(const std::string& bucket, const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = objects_.find(bucket + "/" + key);
    return it == objects_.end() ? std::string() : it->second.etag;
  }
  // Bit rot: the stored bytes change, the size, ETag and metadata stay.
  void corrupt_object(const std::string& bucket, const std::string& key) {
    std::lock_guard lock(mu_);
    std::string& b = objects_.at(bucket + "/" + key).body;
    b[b.size() / 2] = static_cast<char>(b[b.size() / 2] ^ 0x20);
  }
  void remove_object(const std::string& bucket, const std::string& key) {
    std::lock_guard lock(mu_);
    objects_.erase(bucket + "/" + key);
  }
  std::vector<std::string> keys(const std::string& bucket) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& [id, _] : objects_)
      if (id.rfind(bucket + "/", 0) == 0) out.push_back(id.substr(bucket.size() + 1));
    return out;
  }
  void slow_down(int times) { slow_down_ = times; }
  // The next `times` uploads of part `part_number` (any upload) answer 500 InternalError; -1: all of them.
  void fail_part(int part_number, int times) {
    std::lock_guard lock(mu_);
    fail_part_number_ = part_number;
    fail_part_times_ = times;
  }
  void deny_writes(bool deny) { deny_writes_ = deny; }
  int requests() const { return requests_; }
  int signature_failures() const { return bad_signatures_; }
  // Requests whose Content-MD5 / x-amz-checksum-sha256 was checked against the body (and matched).
  int digests_checked() const { return digests_checked_; }
  int bad_digests() const { return bad_digests_; }
  int parts_received() const { return parts_received_; }
  int completed_uploads() const { return completed_uploads_; }
  int aborted_uploads() const { return aborted_uploads_; }
  size_t open_uploads() const {
    std::lock_guard lock(mu_);
    return uploads_.size();
  }
  // "METHOD key[?query]" of every request whose signature was good, in arrival order.
  std::vector<std::string> log() const {
    std::lock_guard lock(mu_);
    return log_;
  }
  size_t page_size = 2;
  size_t parts_page_size = 2;  // ListParts' page (S3's max-parts default is 1000)
  size_t min_part_size = 5u << 20;
  // Forgets every open multipart upload (as a lifecycle rule's AbortIncompleteMultipartUpload).
  void expire_uploads() {
    std::lock_guard lock(mu_);
    uploads_.clear();
  }

 private:
  struct Object {
    std::string body, etag;  // etag without quotes
    std::map<std::string, std::string> metadata;
  };
  struct Part {
    std::string body, md5;  // md5: raw digest
  };
  struct Upload {
    std::string id;  // bucket/key
    std::map<std::string, std::string> metadata;
    std::map<int, Part> parts;
  };

  static std::string md5_hex(const std::string& body) { return providers::hex(providers::md5_raw(body)); }
  static std::map<std::string, std::string> meta_of(const httplib::Request& req) {
    std::map<std::string, std::string> m;
    for (const auto& [name, value] : req.headers) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.rfind("x-amz-meta-", 0) == 0) m[lower.substr(11)] = value;
    }
    return m;
  }
  static void error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
    res.status = status;
    res.set_content(xml_error(code, message), "application/xml");
  }
  // S3's checks of Content-MD5 and x-amz-checksum-sha256; false (the answer set) when one fails.
  bool digests_ok(const httplib::Request& req, httplib::Response& res) {
    const std::string md5 = req.get_header_value("Content-MD5");
    const std::string sha = req.get_header_value("x-amz-checksum-sha256");
    if (!md5.empty()) {
      const auto raw = base64_decode(md5);
      if (!raw || raw->size() != 16) {
        ++bad_digests_;
        error(res, 400, "InvalidDigest", "The Content-MD5 you specified was invalid.");
        return false;
      }
      if (*raw != providers::md5_raw(req.body)) {
        ++bad_digests_;
        error(res, 400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
        return false;
      }
    }
    if (!sha.empty()) {
      const auto raw = base64_decode(sha);
      if (!raw || raw->size() != 32 || providers::hex(*raw) != providers::sha256_hex(req.body)) {
        ++bad_digests_;
        error(res, 400, "BadDigest", "The sha256 you specified did not match the calculated checksum.");
        return false;
      }
    }
    if (!md5.empty() || !sha.empty()) ++digests_checked_;
    return true;
  }
  // The (PartNumber, ETag) pairs of a CompleteMultipartUpload body; nullopt when malformed.
  static std::optional<std::vector<std::pair<int, std::string>>> complete_parts(const std::string& xml) {
    std::vector<std::pair<int, std::string>> out;
    if (xml.find("<CompleteMultipartUpload") == std::string::npos) return std::nullopt;
    size_t pos = 0;
    while ((pos = xml.find("<Part>", pos)) != std::string::npos) {
      const size_t end = xml.find("</Part>", pos);
      if (end == std::string::npos) return std::nullopt;
      const std::string part = xml.substr(pos, end - pos);
      const size_t n0 = part.find("<PartNumber>"), n1 = part.find("</PartNumber>");
      const size_t e0 = part.find("<ETag>"), e1 = part.find("</ETag>");
      if (n0 == std::string::npos || n1 == std::string::npos || e0 == std::string::npos || e1 == std::string::npos)
        return std::nullopt;
      int n = 0;
      try {
        n = std::stoi(part.substr(n0 + 12, n1 - n0 - 12));
      } catch (const std::exception&) {
        return std::nullopt;
      }
      std::string etag = part.substr(e0 + 6, e1 - e0 - 6);
      for (const auto& [ent, ch] : {std::pair<std::string, std::string>{"&quot;", "\""}, {"&#34;", "\""}}) {
        for (size_t at = etag.find(ent); at != std::string::npos; at = etag.find(ent)) etag.replace(at, ent.size(), ch);
      }
      if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
      out.emplace_back(n, etag);
      pos = end + 7;
    }
    if (out.empty()) return std::nullopt;
    return out;
  }

  static std::string xml_error(const std::string& code, const std::string& message) {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>" + message +
           "</Message><RequestId>FAKE</RequestId></Error>";
  }
  static std::string xml_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '&')
        o += "&amp;";
      else if (c == '<')
        o += "&lt;";
      else if (c == '>')
        o += "&gt;";
      else
        o += c;
    }
    return o;
  }
  static std::string decode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  }

  struct Listener {
    providers::AwsCredentials creds;
    std::string region;
    httplib::Server http;
    std::thread thread;
    int port = 0;
    std::atomic<int> requests{0};
  };

  static bool signature_ok(const Listener& l, const httplib::Request& req, const std::string& raw_path,
                           const std::string& raw_query) {
    const std::string auth = req.get_header_value("Authorization");
    const auto sh = auth.find("SignedHeaders="), sg = auth.find("Signature=");
    if (auth.rfind("AWS4-HMAC-SHA256 Credential=" + l.creds.access_key_id + "/", 0) != 0 || sh == std::string::npos ||
        sg == std::string::npos)
      return false;
    const std::string signed_list = auth.substr(sh + 14, auth.find(',', sh) - sh - 14);
    providers::SigV4Request s;
    s.method = req.method;
    s.path = decode(raw_path);
    s.query = raw_query;
    s.payload_hash = req.get_header_value("x-amz-content-sha256");
    if (s.payload_hash != providers::sha256_hex(req.body)) return false;
    size_t pos = 0;
    while (pos <= signed_list.size()) {
      const size_t semi = signed_list.find(';', pos);
      const std::string name = signed_list.substr(pos, semi - pos);
      s.headers.emplace_back(name, name == "host" ? req.get_header_value("Host") : req.get_header_value(name.c_str()));
      if (semi == std::string::npos) break;
      pos = semi + 1;
    }
    const std::string date = req.get_header_value("x-amz-date");
    const auto expect = providers::sigv4_sign(s, l.creds, l.region, "s3", date);
    return auth.substr(sg + 10) == expect.signature;
  }

  void handle(Listener& l, const httplib::Request& req, httplib::Response& res) {
    ++requests_;
    ++l.requests;
    const size_t q = req.target.find('?');
    const std::string raw_path = req.target.substr(0, q);
    const std::string raw_query = q == std::string::npos ? "" : req.target.substr(q + 1);
    if (!signature_ok(l, req, raw_path, raw_query)) {
      ++bad_signatures_;
      res.status = 403;
      if (req.method != "HEAD")
        res.set_content(xml_error("SignatureDoesNotMatch", "The request signature we calculated does not match"),
                        "application/xml");
      return;
    }
    if (slow_down_ > 0) {
      --slow_down_;
      res.status = 503;
      res.set_content(xml_error("SlowDown", "Please reduce your request rate."), "application/xml");
      return;
    }
    const std::string path = decode(raw_path).substr(1);
    const size_t slash = path.find('/');
    const std::string bucket = path.substr(0, slash);
    const std::string key = slash == std::string::npos ? "" : path.substr(slash + 1);
    std::lock_guard lock(mu_);
    log_.push_back(req.method + " " + key + (raw_query.empty() ? "" : "?" + raw_query));
    if (key.empty() && req.method == "GET" && req.get_param_value("list-type") == "2") return list(req, res, bucket);
    const std::string id = bucket + "/" + key;
    const bool write = req.method == "PUT" || req.method == "POST" || req.method == "DELETE";
    if (write && deny_writes_) return error(res, 403, "AccessDenied", "Access Denied");
    if (req.method == "PUT" && req.has_param("uploadId")) {
      auto up = uploads_.find(req.get_param_value("uploadId"));
      if (up == uploads_.end() || up->second.id != id)
        return error(res, 404, "NoSuchUpload", "The specified upload does not exist.");
      int n = 0;
      try {
        n = std::stoi(req.get_param_value("partNumber"));
      } catch (const std::exception&) {
      }
      if (n < 1 || n > 10000)
        return error(res, 400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
      if (fail_part_number_ == n && fail_part_times_ != 0) {
        if (fail_part_times_ > 0) --fail_part_times_;
        return error(res, 500, "InternalError", "We encountered an internal error. Please try again.");
      }
      if (!digests_ok(req, res)) return;
      ++parts_received_;
      const std::string md5 = providers::md5_raw(req.body);
      up->second.parts[n] = Part{req.body, md5};
      res.set_header("ETag", "\"" + providers::hex(md5) + "\"");
      return;
    }
    if (req.method == "GET" && req.has_param("uploadId")) {  // ListParts
      auto up = uploads_.find(req.get_param_value("uploadId"));
      if (up == uploads_.end() || up->second.id != id)
        return error(res, 404, "NoSuchUpload", "The specified upload does not exist.");
      int marker = 0;
      if (req.has_param("part-number-marker")) marker = std::stoi(req.get_param_value("part-number-marker"));
      size_t max_parts = parts_page_size;
      if (req.has_param("max-parts"))
        max_parts = std::min<size_t>(max_parts, std::stoul(req.get_param_value("max-parts")));
      std::string xml =
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult "
          "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>" +
          bucket + "</Bucket><Key>" + xml_escape(key) + "</Key><UploadId>" + up->first +
          "</UploadId><PartNumberMarker>" + std::to_string(marker) + "</PartNumberMarker>";
      size_t n = 0;
      int last = marker;
      bool truncated = false;
      for (const auto& [number, part] : up->second.parts) {
        if (number <= marker) continue;
        if (n == max_parts) {
          truncated = true;
          break;
        }
        xml += "<Part><PartNumber>" + std::to_string(number) +
               "</PartNumber><LastModified>2026-12-07T20:00:00.000Z</LastModified><ETag>&quot;" +
               providers::hex(part.md5) + "&quot;</ETag><Size>" + std::to_string(part.body.size()) + "</Size></Part>";
        last = number;
        ++n;
      }
      xml += "<NextPartNumberMarker>" + std::to_string(last) + "</NextPartNumberMarker><MaxParts>" +
             std::to_string(max_parts) + "</MaxParts><IsTruncated>" + (truncated ? "true" : "false") +
             "</IsTruncated></ListPartsResult>";
      res.set_content(xml, "application/xml");
      return;
    }
    if (req.method == "PUT") {
      if (!digests_ok(req, res)) return;
      Object o{req.body, md5_hex(req.body), meta_of(req)};
      res.set_header("ETag", "\"" + o.etag + "\"");
      objects_[id] = std::move(o);
      return;
    }
    if (req.method == "POST" && req.has_param("uploads")) {
      const std::string upload = "upload-" + std::to_string(++upload_counter_);
      uploads_[upload] = Upload{id, meta_of(req), {}};
      res.set_content("<InitiateMultipartUploadResult><Bucket>" + bucket + "</Bucket><Key>" + xml_escape(key) +
                          "</Key><UploadId>" + upload + "</UploadId></InitiateMultipartUploadResult>",
                      "application/xml");
      return;
    }
    if (req.method == "POST" && req.has_param("uploadId")) {
      auto it = uploads_.find(req.get_param_value("uploadId"));
      if (it == uploads_.end() || it->second.id != id)
        return error(res, 404, "NoSuchUpload", "The specified upload does not exist.");
      const auto listed = complete_parts(req.body);
      if (!listed)
        return error(res, 400, "MalformedXML", "The XML you provided was not well-formed or did not validate.");
      std::string all, md5s;
      for (size_t i = 0; i < listed->size(); ++i) {
        const auto& [n, etag] = (*listed)[i];
        if (i > 0 && n <= (*listed)[i - 1].first)
          return error(res, 400, "InvalidPartOrder", "The list of parts was not in ascending order.");
        auto part = it->second.parts.find(n);
        if (part == it->second.parts.end() || providers::hex(part->second.md5) != etag)
          return error(res, 400, "InvalidPart", "One or more of the specified parts could not be found.");
        if (i + 1 < listed->size() && part->second.body.size() < min_part_size)
          return error(res, 400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size");
        all += part->second.body;
        md5s += part->second.md5;
      }
      const std::string etag = md5_hex(md5s) + "-" + std::to_string(listed->size());
      objects_[id] = Object{all, etag, it->second.metadata};
      uploads_.erase(it);
      ++completed_uploads_;
      res.set_content("<CompleteMultipartUploadResult><Key>" + xml_escape(key) + "</Key><ETag>&quot;" + etag +
                          "&quot;</ETag></CompleteMultipartUploadResult>",
                      "application/xml");
      return;
    }
    if (req.method == "DELETE") {
      if (req.has_param("uploadId")) {
        if (!uploads_.erase(req.get_param_value("uploadId")))
          return error(res, 404, "NoSuchUpload", "The specified upload does not exist.");
        ++aborted_uploads_;
      } else {
        objects_.erase(id);
      }
      res.status = 204;
      return;
    }
    auto it = objects_.find(id);
    if (it == objects_.end()) {
      res.status = 404;
      if (req.method != "HEAD")
        res.set_content(xml_error("NoSuchKey", "The specified key does not exist."), "application/xml");
      return;
    }
    const std::string& body = it->second.body;
    res.set_header("ETag", "\"" + it->second.etag + "\"");
    for (const auto& [k, v] : it->second.metadata) res.set_header("x-amz-meta-" + k, v);
    if (req.method == "HEAD") {
      res.set_header("Content-Length", std::to_string(body.size()));
      return;
    }
    const std::string range = req.get_header_value("Range");
    if (!range.empty()) {
      size_t first = 0, last = 0;
      if (std::sscanf(range.c_str(), "bytes=%zu-%zu", &first, &last) != 2 || first >= body.size()) {
        res.status = 416;
        res.set_content(xml_error("InvalidRange", "The requested range is not satisfiable"), "application/xml");
        return;
      }
    }
    // cpp-httplib cuts the body to the request's Range itself (status 206, Content-Range).
    res.set_content(body, "application/octet-stream");
  }

  void list(const httplib::Request& req, httplib::Response& res, const std::string& bucket) {
    const std::string prefix = req.get_param_value("prefix");
    const std::string token = req.get_param_value("continuation-token");
    std::string xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>" +
        bucket + "</Name><Prefix>" + xml_escape(prefix) + "</Prefix>";
    struct Listed {
      std::string key, etag;
      size_t size;
    };
    std::vector<Listed> keys;               // after the token, in key order
    for (const auto& [id, o] : objects_) {  // handle() holds mu_
      if (id.rfind(bucket + "/", 0) != 0) continue;
      const std::string key = id.substr(bucket.size() + 1);
      if (key.rfind(prefix, 0) == 0 && (token.empty() || key > token)) keys.push_back({key, o.etag, o.body.size()});
    }
    const size_t n = std::min(keys.size(), page_size);
    for (size_t i = 0; i < n; ++i)
      xml += "<Contents><Key>" + xml_escape(keys[i].key) + "</Key><Size>" + std::to_string(keys[i].size) +
             "</Size><ETag>&quot;" + keys[i].etag + "&quot;</ETag></Contents>";
    const bool truncated = keys.size() > n;
    xml += "<KeyCount>" + std::to_string(n) + "</KeyCount><IsTruncated>" + (truncated ? "true" : "false") +
           "</IsTruncated>";
    if (truncated) xml += "<NextContinuationToken>" + xml_escape(keys[n - 1].key) + "</NextContinuationToken>";
    xml += "</ListBucketResult>";
    res.set_content(xml, "application/xml");
  }

  std::vector<std::unique_ptr<Listener>> listeners_;
  mutable std::mutex mu_;
  std::map<std::string, Object> objects_;
  std::map<std::string, Upload> uploads_;  // by upload id
  std::vector<std::string> log_;
  int upload_counter_ = 0, fail_part_number_ = 0, fail_part_times_ = 0;
  std::atomic<bool> deny_writes_{false};
  std::atomic<int> slow_down_{0}, requests_{0}, bad_signatures_{0}, digests_checked_{0}, bad_digests_{0},
      parts_received_{0}, completed_uploads_{0}, aborted_uploads_{0};
};

}  // namespace ia::test
