#pragma once
// Multicodec codes for the content types a CID can name. Only raw and dag-pb
// are decoded here; dag-cbor CIDs parse and print but their blocks are opaque.
#include <cstdint>
#include <string_view>

namespace ia::ipfs {

inline constexpr uint64_t kCodecRaw = 0x55;
inline constexpr uint64_t kCodecDagPb = 0x70;
inline constexpr uint64_t kCodecDagCbor = 0x71;

// "raw", "dag-pb", "dag-cbor"; empty for other codes.
std::string_view codec_name(uint64_t code);
// Throws ia::Error(InvalidArgument) for an unknown name.
uint64_t codec_from_name(std::string_view name);

}  // namespace ia::ipfs
