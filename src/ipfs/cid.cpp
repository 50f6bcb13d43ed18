#include "ipfs/cid.h"

#include "core/error.h"
#include "ipfs/varint.h"

namespace ia::ipfs {

namespace {

// Turns the Corrupt errors of the binary readers into InvalidArgument: a CID
// given as text is user input, not a damaged file.
template <typename Fn>
auto as_invalid_argument(std::string_view text, Fn&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    // An unknown hash function stays Unsupported; the message names the CID either way.
    ErrorKind kind = e.kind() == ErrorKind::Unsupported ? ErrorKind::Unsupported : ErrorKind::InvalidArgument;
    fail(kind, "invalid CID \"{}\": {}", text.substr(0, 120), e.what());
  }
}

}  // namespace

Cid Cid::parse(std::string_view text) {
  if (text.empty()) fail(ErrorKind::InvalidArgument, "invalid CID: empty string");
  if (text.size() == 46 && text[0] == 'Q' && text[1] == 'm') {
    return as_invalid_argument(text, [&] {
      Bytes raw = decode_base(Multibase::Base58Btc, text);
      Cid c = from_bytes(raw);
      if (c.version != 0) fail(ErrorKind::InvalidArgument, "not a CIDv0");
      return c;
    });
  }
  return as_invalid_argument(text, [&] {
    Multibase base;
    Bytes raw = multibase_decode(text, &base);
    Cid c = from_bytes(raw);
    if (c.version == 0) fail(ErrorKind::InvalidArgument, "a CIDv0 must be written in base58btc without a prefix");
    return c;
  });
}

Cid Cid::read(BytesView data, size_t& pos) {
  // A v0 CID in binary is the bare multihash, which starts 0x12 0x20.
  if (data.size() - pos >= 2 && static_cast<uint8_t>(data[pos]) == 0x12 &&
      static_cast<uint8_t>(data[pos + 1]) == 0x20) {
    Cid c;
    c.version = 0;
    c.codec = kCodecDagPb;
    c.hash = read_multihash(data, pos);
    return c;
  }
  Cid c;
  c.version = read_varint(data, pos, "CID version");
  if (c.version != 1) fail(ErrorKind::Corrupt, "unsupported CID version {}", c.version);
  c.codec = read_varint(data, pos, "CID codec");
  c.hash = read_multihash(data, pos);
  return c;
}

Cid Cid::from_bytes(BytesView bytes) {
  size_t pos = 0;
  Cid c = read(bytes, pos);
  if (pos != bytes.size()) fail(ErrorKind::Corrupt, "{} trailing bytes after CID", bytes.size() - pos);
  return c;
}

Cid Cid::of(uint64_t version, uint64_t codec, BytesView block) {
  Cid c;
  c.version = version;
  c.codec = codec;
  c.hash = Multihash{kHashSha256, sha256(block)};
  if (version == 0 && codec != kCodecDagPb) fail(ErrorKind::InvalidArgument, "CIDv0 can only name dag-pb blocks");
  return c;
}

Bytes Cid::bytes() const {
  if (version == 0) return hash.bytes();
  Bytes out;
  append_varint(out, version);
  append_varint(out, codec);
  out += hash.bytes();
  return out;
}

std::string Cid::to_string() const {
  if (version == 0) return encode_base(Multibase::Base58Btc, hash.bytes());
  return multibase_encode(Multibase::Base32, bytes());
}

std::string Cid::to_string(Multibase base) const {
  if (version == 0 && base == Multibase::Base58Btc) return to_string();
  return multibase_encode(base, to_v1().bytes());
}

Cid Cid::to_v1() const {
  Cid c = *this;
  c.version = 1;
  return c;
}

bool Cid::can_be_v0() const {
  return codec == kCodecDagPb && hash.code == kHashSha256 && hash.digest.size() == 32;
}

Cid Cid::to_v0() const {
  if (!can_be_v0()) {
    fail(ErrorKind::InvalidArgument, "{} cannot be a CIDv0 (only dag-pb with sha2-256 can)", to_string());
  }
  Cid c = *this;
  c.version = 0;
  return c;
}

}  // namespace ia::ipfs
