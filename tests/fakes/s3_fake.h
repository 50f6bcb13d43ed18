#pragma once
// A protocol fake of an S3-compatible store (path-style, as MinIO serves it) on
// 127.0.0.1: GET (with one Range), HEAD (errors without a body), PUT,
// multipart upload (initiate, parts, complete, abort), DELETE and ListObjectsV2
// paged at `page_size` keys, errors as S3's XML. It checks every request's
// SigV4 signature against the request as it arrived (host, raw path and query,
// the signed headers, the body's hash), answering 403 SignatureDoesNotMatch as
// S3 does, and can be scripted to answer 503 SlowDown first.
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "providers/sigv4.h"

namespace ia::test {

class FakeS3 {
 public:
  FakeS3(std::string access_key, std::string secret, std::string region = "us-east-1")
      : creds_{std::move(access_key), std::move(secret), ""}, region_(std::move(region)) {
    http_.set_keep_alive_max_count(1);
    auto handler = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
    http_.Get(".*", handler);
    http_.Put(".*", handler);
    http_.Post(".*", handler);
    http_.Delete(".*", handler);
    port_ = http_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeS3() {
    http_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void put_object(const std::string& bucket, const std::string& key, const std::string& body) {
    std::lock_guard lock(mu_);
    objects_[bucket + "/" + key] = body;
  }
  std::optional<std::string> object(const std::string& bucket, const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = objects_.find(bucket + "/" + key);
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  }
  void slow_down(int times) { slow_down_ = times; }
  int requests() const { return requests_; }
  int signature_failures() const { return bad_signatures_; }
  size_t page_size = 2;

 private:
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

  bool signature_ok(const httplib::Request& req, const std::string& raw_path, const std::string& raw_query) {
    const std::string auth = req.get_header_value("Authorization");
    const auto sh = auth.find("SignedHeaders="), sg = auth.find("Signature=");
    if (auth.rfind("AWS4-HMAC-SHA256 Credential=" + creds_.access_key_id + "/", 0) != 0 || sh == std::string::npos ||
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
    const auto expect = providers::sigv4_sign(s, creds_, region_, "s3", date);
    return auth.substr(sg + 10) == expect.signature;
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    ++requests_;
    const size_t q = req.target.find('?');
    const std::string raw_path = req.target.substr(0, q);
    const std::string raw_query = q == std::string::npos ? "" : req.target.substr(q + 1);
    if (!signature_ok(req, raw_path, raw_query)) {
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
    if (key.empty() && req.method == "GET" && req.get_param_value("list-type") == "2") return list(req, res, bucket);
    const std::string id = bucket + "/" + key;
    if (req.method == "PUT" && req.has_param("uploadId")) {
      const std::string etag = "\"" + providers::sha256_hex(req.body).substr(0, 32) + "\"";
      parts_[req.get_param_value("uploadId")][std::stoi(req.get_param_value("partNumber"))] = req.body;
      res.set_header("ETag", etag);
      return;
    }
    if (req.method == "PUT") {
      objects_[id] = req.body;
      res.set_header("ETag", "\"" + providers::sha256_hex(req.body).substr(0, 32) + "\"");
      return;
    }
    if (req.method == "POST" && req.has_param("uploads")) {
      const std::string upload = "upload-" + std::to_string(++uploads_);
      parts_[upload];
      res.set_content("<InitiateMultipartUploadResult><Bucket>" + bucket + "</Bucket><Key>" + xml_escape(key) +
                          "</Key><UploadId>" + upload + "</UploadId></InitiateMultipartUploadResult>",
                      "application/xml");
      return;
    }
    if (req.method == "POST" && req.has_param("uploadId")) {
      auto it = parts_.find(req.get_param_value("uploadId"));
      if (it == parts_.end()) {
        res.status = 404;
        res.set_content(xml_error("NoSuchUpload", "The specified upload does not exist."), "application/xml");
        return;
      }
      std::string all;
      for (const auto& [n, body] : it->second) all += body;
      objects_[id] = all;
      parts_.erase(it);
      res.set_content("<CompleteMultipartUploadResult><ETag>\"fake-" + std::to_string(all.size()) +
                          "\"</ETag></CompleteMultipartUploadResult>",
                      "application/xml");
      return;
    }
    if (req.method == "DELETE") {
      if (req.has_param("uploadId"))
        parts_.erase(req.get_param_value("uploadId"));
      else
        objects_.erase(id);
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
    const std::string& body = it->second;
    res.set_header("ETag", "\"" + providers::sha256_hex(body).substr(0, 32) + "\"");
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
    std::vector<Listed> keys;                  // after the token, in key order
    for (const auto& [id, body] : objects_) {  // handle() holds mu_
      if (id.rfind(bucket + "/", 0) != 0) continue;
      const std::string key = id.substr(bucket.size() + 1);
      // The ETag as PUT answered it (S3's is the MD5 of a single-part object; opaque to clients).
      if (key.rfind(prefix, 0) == 0 && (token.empty() || key > token))
        keys.push_back({key, providers::sha256_hex(body).substr(0, 32), body.size()});
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

  providers::AwsCredentials creds_;
  std::string region_;
  httplib::Server http_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::map<std::string, std::string> objects_;
  std::map<std::string, std::map<int, std::string>> parts_;
  int uploads_ = 0;
  std::atomic<int> slow_down_{0}, requests_{0}, bad_signatures_{0};
};

}  // namespace ia::test
