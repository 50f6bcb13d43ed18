#pragma once
// The small slice of the protobuf wire format dag-pb and UnixFS need, written
// by hand so the output is byte-exact (field order and presence are chosen by
// the caller, as the canonical dag-pb form requires) and parsing is strict.
#include <cstdint>

#include "ipfs/bytes.h"

namespace ia::ipfs::pb {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

void put_varint_field(Bytes& out, uint32_t field, uint64_t value);
void put_bytes_field(Bytes& out, uint32_t field, BytesView value);

// Reads fields one at a time. Every read checks bounds and throws
// ia::Error(Corrupt) naming `what` (the message being read).
class Reader {
 public:
  Reader(BytesView data, const char* what) : data_(data), what_(what) {}
  bool done() const { return pos_ >= data_.size(); }
  // Reads a tag; returns false at the end of the message.
  bool next(uint32_t& field, WireType& type);
  uint64_t varint();
  BytesView bytes();
  // Skips a field of `type` (for unknown fields in lenient messages).
  void skip(WireType type);

 private:
  BytesView data_;
  size_t pos_ = 0;
  const char* what_;
};

}  // namespace ia::ipfs::pb
