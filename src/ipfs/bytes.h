#pragma once
// Byte strings for the IPFS layer. std::string holds arbitrary bytes (NULs
// included) and std::string_view is a cheap borrowed slice, so blocks, CIDs and
// digests all use them rather than a bespoke buffer type.
#include <cstdint>
#include <string>
#include <string_view>

namespace ia::ipfs {

using Bytes = std::string;
using BytesView = std::string_view;

inline const uint8_t* byte_ptr(BytesView b) {
  return reinterpret_cast<const uint8_t*>(b.data());
}

// Lower-case hex, for messages and tests.
std::string to_hex(BytesView bytes);
// Parses hex (either case); throws ia::Error(InvalidArgument) on odd length or a bad digit.
Bytes from_hex(std::string_view hex);

}  // namespace ia::ipfs
