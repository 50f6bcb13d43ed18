#pragma once
// AWS Signature Version 4, as S3 and S3-compatible stores (MinIO, Ceph, R2,
// …) check it: canonical request, string to sign, the derived signing key and
// the signature; header auth, presigned URLs and aws-chunked chunk signatures.
// S3 rules: the path is percent-encoded once per segment and not normalised.
// Verified byte for byte against the published vectors (tests/unit/providers).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ia::providers {

struct AwsCredentials {
  std::string access_key_id, secret_access_key, session_token;
};

struct SigV4Request {
  std::string method;
  std::string path;   // as in the URL before encoding ("/bucket/my key"); encoded here
  std::string query;  // raw query string ("a=1&b" or already-encoded values): decoded, then canonicalised
  std::vector<std::pair<std::string, std::string>> headers;  // every one is signed; must include Host
  std::string payload_hash;  // hex SHA-256 of the body, UNSIGNED-PAYLOAD, or STREAMING-…
};

struct SigV4Signature {
  std::string canonical_request, string_to_sign, signing_key_hex, signature, authorization, signed_headers, scope;
};

// amz_date: "yyyymmddThhmmssZ".
SigV4Signature sigv4_sign(const SigV4Request& req, const AwsCredentials& creds, const std::string& region,
                          const std::string& service, const std::string& amz_date);

// A presigned GET URL's query (without X-Amz-Signature) and signature: the request's query
// gains X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders (and -Security-Token).
SigV4Signature sigv4_presign(SigV4Request req, const AwsCredentials& creds, const std::string& region,
                             const std::string& service, const std::string& amz_date, int expires_s,
                             std::string* canonical_query);

// An aws-chunked upload's chunk signature, chained on the previous one (the seed's first).
std::string sigv4_chunk_signature(const std::string& signing_key_hex, const std::string& amz_date,
                                  const std::string& scope, const std::string& previous_signature,
                                  std::string_view chunk);

std::string sha256_hex(std::string_view data);
// The MD5 digest (raw bytes): S3's Content-MD5 header is its base64, a single-part object's ETag its hex.
std::string md5_raw(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw bytes
std::string hex(std::string_view bytes);
// The canonical query string of a raw query (sorted, each part percent-encoded once).
std::string sigv4_canonical_query(std::string_view raw_query);
// "yyyymmddThhmmssZ" of now (UTC).
std::string amz_date_now();

}  // namespace ia::providers
