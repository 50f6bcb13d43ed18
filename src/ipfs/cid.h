#pragma once
// Content identifiers. CIDv0 is a bare sha2-256 multihash of a dag-pb block,
// written in base58btc ("Qm…"); CIDv1 is varint(1) ‖ varint(codec) ‖ multihash,
// written with a multibase prefix (base32 "b…" by default).
#include <cstdint>
#include <functional>
#include <string>

#include "ipfs/multibase.h"
#include "ipfs/multicodec.h"
#include "ipfs/multihash.h"

namespace ia::ipfs {

struct Cid {
  uint64_t version = 1;
  uint64_t codec = kCodecRaw;
  Multihash hash;

  // Parses text: a 46-character "Qm…" CIDv0, or a multibase CIDv1. Throws
  // ia::Error(InvalidArgument) for anything malformed, Unsupported for an
  // unknown multibase or hash.
  static Cid parse(std::string_view text);
  // Binary form, the whole of `bytes`.
  static Cid from_bytes(BytesView bytes);
  // Binary form at `pos` (advancing it), for CAR sections and dag-pb links.
  static Cid read(BytesView data, size_t& pos);
  // Computes the CID of `block` (sha2-256).
  static Cid of(uint64_t version, uint64_t codec, BytesView block);

  Bytes bytes() const;
  // v0: base58btc without prefix; v1: base32.
  std::string to_string() const;
  // v1 only (a v0 CID is printed as its v1 form in any base but base58btc, like kubo's `cid format -b`).
  std::string to_string(Multibase base) const;

  Cid to_v1() const;
  // Throws ia::Error(InvalidArgument) unless dag-pb + sha2-256.
  Cid to_v0() const;
  bool can_be_v0() const;

  bool operator==(const Cid&) const = default;
  auto operator<=>(const Cid&) const = default;
};

}  // namespace ia::ipfs

template <>
struct std::hash<ia::ipfs::Cid> {
  size_t operator()(const ia::ipfs::Cid& c) const noexcept {
    return std::hash<std::string>()(c.hash.digest) ^ (c.codec * 0x9e3779b97f4a7c15ull) ^ c.version;
  }
};
