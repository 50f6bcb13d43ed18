#include "ipfs/varint.h"

#include "core/error.h"

namespace ia::ipfs {

void append_varint(Bytes& out, uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

Bytes encode_varint(uint64_t value) {
  Bytes out;
  append_varint(out, value);
  return out;
}

size_t varint_size(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

uint64_t read_varint(BytesView data, size_t& pos, const char* what) {
  uint64_t value = 0;
  for (int i = 0; i < 9; ++i) {
    if (pos >= data.size()) fail(ErrorKind::Corrupt, "truncated {} at byte {}", what, pos);
    uint8_t b = static_cast<uint8_t>(data[pos++]);
    value |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      if (b == 0 && i > 0) fail(ErrorKind::Corrupt, "{} is not minimally encoded", what);
      return value;
    }
  }
  fail(ErrorKind::Corrupt, "{} longer than 9 bytes", what);
}

}  // namespace ia::ipfs
