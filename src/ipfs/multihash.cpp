#include "ipfs/multihash.h"

#include <openssl/evp.h>

#include "core/error.h"
#include "ipfs/varint.h"

namespace ia::ipfs {

Bytes Multihash::bytes() const {
  Bytes out;
  append_varint(out, code);
  append_varint(out, digest.size());
  out += digest;
  return out;
}

Multihash read_multihash(BytesView data, size_t& pos) {
  Multihash mh;
  mh.code = read_varint(data, pos, "multihash code");
  uint64_t len = read_varint(data, pos, "multihash length");
  if (mh.code == kHashSha256) {
    if (len != 32) fail(ErrorKind::Corrupt, "sha2-256 multihash with length {} (expected 32)", len);
  } else if (mh.code == kHashIdentity) {
    if (len > kMaxIdentityDigest)
      fail(ErrorKind::Corrupt, "identity multihash of {} bytes (limit {})", len, kMaxIdentityDigest);
  } else {
    fail(ErrorKind::Unsupported, "unsupported multihash code 0x{:x} (supported: sha2-256, identity)", mh.code);
  }
  if (data.size() - pos < len) fail(ErrorKind::Corrupt, "truncated multihash digest");
  mh.digest = Bytes(data.substr(pos, len));
  pos += len;
  return mh;
}

Multihash parse_multihash(BytesView bytes) {
  size_t pos = 0;
  Multihash mh = read_multihash(bytes, pos);
  if (pos != bytes.size()) fail(ErrorKind::Corrupt, "{} trailing bytes after multihash", bytes.size() - pos);
  return mh;
}

Multihash compute_multihash(uint64_t code, BytesView data) {
  if (code == kHashSha256) return Multihash{kHashSha256, sha256(data)};
  if (code == kHashIdentity) {
    if (data.size() > kMaxIdentityDigest)
      fail(ErrorKind::InvalidArgument, "identity hash of {} bytes (limit {})", data.size(), kMaxIdentityDigest);
    return Multihash{kHashIdentity, Bytes(data)};
  }
  fail(ErrorKind::Unsupported, "unsupported multihash code 0x{:x}", code);
}

bool multihash_matches(const Multihash& mh, BytesView data) {
  if (mh.code == kHashIdentity) return mh.digest == data;
  if (mh.code == kHashSha256) return sha256(data) == mh.digest;
  return false;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1) {
    fail(ErrorKind::Internal, "OpenSSL SHA-256 initialisation failed");
  }
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
}

void Sha256::update(BytesView data) {
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size()) != 1) {
    fail(ErrorKind::Internal, "OpenSSL SHA-256 update failed");
  }
}

Bytes Sha256::finish() {
  Bytes out(32, '\0');
  unsigned int len = 0;
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  if (EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()), &len) != 1 || len != 32 ||
      EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
    fail(ErrorKind::Internal, "OpenSSL SHA-256 final failed");
  }
  return out;
}

Bytes sha256(BytesView data) {
  // One context per thread: EVP context creation costs more than hashing a small block.
  thread_local Sha256 h;
  h.update(data);
  return h.finish();
}

}  // namespace ia::ipfs
