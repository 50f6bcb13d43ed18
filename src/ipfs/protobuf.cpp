#include "ipfs/protobuf.h"

#include "core/error.h"
#include "ipfs/varint.h"

namespace ia::ipfs::pb {

void put_varint_field(Bytes& out, uint32_t field, uint64_t value) {
  append_varint(out, (static_cast<uint64_t>(field) << 3) | kVarint);
  append_varint(out, value);
}

void put_bytes_field(Bytes& out, uint32_t field, BytesView value) {
  append_varint(out, (static_cast<uint64_t>(field) << 3) | kLen);
  append_varint(out, value.size());
  out += value;
}

uint64_t Reader::varint() {
  // Protobuf varints may be 10 bytes and need not be minimal, unlike multiformats ones.
  uint64_t value = 0;
  for (int i = 0; i < 10; ++i) {
    if (pos_ >= data_.size()) fail(ErrorKind::Corrupt, "{}: truncated varint", what_);
    uint8_t b = static_cast<uint8_t>(data_[pos_++]);
    if (i == 9 && b > 1) fail(ErrorKind::Corrupt, "{}: varint overflows 64 bits", what_);
    value |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) return value;
  }
  fail(ErrorKind::Corrupt, "{}: varint longer than 10 bytes", what_);
}

bool Reader::next(uint32_t& field, WireType& type) {
  if (done()) return false;
  uint64_t tag = varint();
  uint64_t f = tag >> 3;
  uint32_t t = static_cast<uint32_t>(tag & 7);
  if (f == 0 || f > 0x1fffffff) fail(ErrorKind::Corrupt, "{}: invalid field number {}", what_, f);
  if (t != kVarint && t != kFixed64 && t != kLen && t != kFixed32) {
    fail(ErrorKind::Corrupt, "{}: unsupported wire type {}", what_, t);
  }
  field = static_cast<uint32_t>(f);
  type = static_cast<WireType>(t);
  return true;
}

BytesView Reader::bytes() {
  uint64_t len = varint();
  if (len > data_.size() - pos_) fail(ErrorKind::Corrupt, "{}: length {} runs past the end", what_, len);
  BytesView v = data_.substr(pos_, len);
  pos_ += len;
  return v;
}

void Reader::skip(WireType type) {
  switch (type) {
    case kVarint: varint(); return;
    case kLen: bytes(); return;
    case kFixed64:
    case kFixed32: {
      size_t n = type == kFixed64 ? 8 : 4;
      if (data_.size() - pos_ < n) fail(ErrorKind::Corrupt, "{}: truncated fixed field", what_);
      pos_ += n;
      return;
    }
  }
}

}  // namespace ia::ipfs::pb
