#pragma once
// Multihash: varint(hash code) ‖ varint(digest length) ‖ digest. Supported:
// sha2-256 (what every kubo CID uses) and identity (the bytes themselves, for
// tiny inline blocks such as the gateway probe `bafkqaaa`).
#include <cstdint>
#include <memory>

#include "ipfs/bytes.h"

namespace ia::ipfs {

inline constexpr uint64_t kHashIdentity = 0x00;
inline constexpr uint64_t kHashSha256 = 0x12;
// The largest identity "digest" accepted: the spec leaves it open, kubo caps it at 128.
inline constexpr size_t kMaxIdentityDigest = 128;

struct Multihash {
  uint64_t code = kHashSha256;
  Bytes digest;

  Bytes bytes() const;
  bool operator==(const Multihash&) const = default;
  auto operator<=>(const Multihash&) const = default;
};

// Reads one multihash at `pos` (advancing it). Throws ia::Error: Corrupt on
// malformed input, Unsupported on an unknown hash code or a wrong sha2-256 length.
Multihash read_multihash(BytesView data, size_t& pos);
// The whole of `bytes` must be exactly one multihash.
Multihash parse_multihash(BytesView bytes);

// Hashes `data` with `code` (sha2-256 or identity).
Multihash compute_multihash(uint64_t code, BytesView data);
// True when `data` hashes to `mh`.
bool multihash_matches(const Multihash& mh, BytesView data);

// Streaming SHA-256 over OpenSSL's EVP interface (uses SHA-NI / AVX2 where the CPU has them).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(BytesView data);
  // 32-byte digest; the object is reset and can be reused.
  Bytes finish();

 private:
  void* ctx_;  // EVP_MD_CTX*
};

Bytes sha256(BytesView data);

}  // namespace ia::ipfs
