#pragma once
// Unsigned LEB128 varints as multiformats define them (unsigned-varint spec):
// at most 9 bytes (63 bits) and minimally encoded, so every value has exactly
// one encoding and a CID's bytes are canonical.
#include <cstdint>

#include "ipfs/bytes.h"

namespace ia::ipfs {

void append_varint(Bytes& out, uint64_t value);
Bytes encode_varint(uint64_t value);
size_t varint_size(uint64_t value);

// Reads one varint at `pos` and advances it. Throws ia::Error(Corrupt) when the
// input ends early, the value passes 63 bits, or the encoding is not minimal.
// `what` names the field in the message.
uint64_t read_varint(BytesView data, size_t& pos, const char* what = "varint");

}  // namespace ia::ipfs
