#include "providers/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

#include "core/error.h"
#include "providers/http_transport.h"

namespace ia::providers {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Trimmed, inner runs of spaces collapsed to one (SigV4's header value rule).
std::string canonical_value(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      const int a = i + 1 < s.size() ? hex_digit(s[i + 1]) : -1;
      const int b = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
      if (a >= 0 && b >= 0) {
        out += static_cast<char>(a * 16 + b);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return hex(std::string_view(reinterpret_cast<const char*>(md), sizeof md));
}

std::string md5_raw(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr) != 1)
    fail(ErrorKind::Internal, "MD5 is not available in this OpenSSL");
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md, &len);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string sigv4_canonical_query(std::string_view raw) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!raw.empty()) {
    const size_t amp = raw.find('&');
    const std::string_view part = raw.substr(0, amp);
    raw.remove_prefix(amp == std::string_view::npos ? raw.size() : amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    const std::string name = percent_decode(part.substr(0, eq));
    const std::string value = eq == std::string_view::npos ? std::string() : percent_decode(part.substr(eq + 1));
    params.emplace_back(percent_encode(name, false), percent_encode(value, false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [n, v] : params) out += (out.empty() ? "" : "&") + n + "=" + v;
  return out;
}

SigV4Signature sigv4_sign(const SigV4Request& req, const AwsCredentials& creds, const std::string& region,
                          const std::string& service, const std::string& amz_date) {
  SigV4Signature s;
  const std::string date = amz_date.substr(0, 8);
  s.scope = date + "/" + region + "/" + service + "/aws4_request";
  std::map<std::string, std::string> headers;  // sorted by lower-case name; repeated names joined with ','
  for (const auto& [name, value] : req.headers) {
    std::string& v = headers[lower(name)];
    v += (v.empty() ? "" : ",") + canonical_value(value);
  }
  std::string canonical_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    s.signed_headers += (s.signed_headers.empty() ? "" : ";") + name;
  }
  const std::string uri = req.path.empty() ? "/" : percent_encode(req.path, /*keep_slash=*/true);
  s.canonical_request = req.method + "\n" + uri + "\n" + sigv4_canonical_query(req.query) + "\n" + canonical_headers +
                        "\n" + s.signed_headers + "\n" + req.payload_hash;
  s.string_to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + s.scope + "\n" + sha256_hex(s.canonical_request);
  const std::string k_date = hmac_sha256("AWS4" + creds.secret_access_key, date);
  const std::string k_region = hmac_sha256(k_date, region);
  const std::string k_service = hmac_sha256(k_region, service);
  const std::string k_signing = hmac_sha256(k_service, "aws4_request");
  s.signing_key_hex = hex(k_signing);
  s.signature = hex(hmac_sha256(k_signing, s.string_to_sign));
  s.authorization = "AWS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/" + s.scope +
                    ", SignedHeaders=" + s.signed_headers + ", Signature=" + s.signature;
  return s;
}

SigV4Signature sigv4_presign(SigV4Request req, const AwsCredentials& creds, const std::string& region,
                             const std::string& service, const std::string& amz_date, int expires_s,
                             std::string* canonical_query) {
  const std::string scope = amz_date.substr(0, 8) + "/" + region + "/" + service + "/aws4_request";
  std::string signed_names;
  {
    std::vector<std::string> names;
    for (const auto& h : req.headers) names.push_back(lower(h.first));
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    for (const auto& n : names) signed_names += (signed_names.empty() ? "" : ";") + n;
  }
  std::string q = req.query;
  auto add = [&q](const std::string& name, const std::string& value) {
    q += (q.empty() ? "" : "&") + name + "=" + percent_encode(value, false);
  };
  add("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
  add("X-Amz-Credential", creds.access_key_id + "/" + scope);
  add("X-Amz-Date", amz_date);
  add("X-Amz-Expires", std::to_string(expires_s));
  if (!creds.session_token.empty()) add("X-Amz-Security-Token", creds.session_token);
  add("X-Amz-SignedHeaders", signed_names);
  req.query = q;
  req.payload_hash = "UNSIGNED-PAYLOAD";
  if (canonical_query) *canonical_query = sigv4_canonical_query(q);
  return sigv4_sign(req, creds, region, service, amz_date);
}

std::string sigv4_chunk_signature(const std::string& signing_key_hex, const std::string& amz_date,
                                  const std::string& scope, const std::string& previous_signature,
                                  std::string_view chunk) {
  std::string key;
  for (size_t i = 0; i + 1 < signing_key_hex.size(); i += 2)
    key += static_cast<char>(hex_digit(signing_key_hex[i]) * 16 + hex_digit(signing_key_hex[i + 1]));
  const std::string sts = "AWS4-HMAC-SHA256-PAYLOAD\n" + amz_date + "\n" + scope + "\n" + previous_signature + "\n" +
                          sha256_hex("") + "\n" + sha256_hex(chunk);
  return hex(hmac_sha256(key, sts));
}

std::string amz_date_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace ia::providers
