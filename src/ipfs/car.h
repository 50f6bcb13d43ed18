#pragma once
// CAR (content-addressed archive) files. CARv1 = varint-prefixed DAG-CBOR
// header {roots, version: 1} then sections varint(len) ‖ CID ‖ block. Export
// writes the DAG depth-first, root first, no duplicates (what `ipfs dag export`
// writes); import re-hashes every block and stops at the first mismatch. CARv2
// (a fixed header wrapping a CARv1 payload plus an index) is read too.
#include <cstdint>
#include <istream>
#include <ostream>
#include <vector>

#include "ipfs/blockstore.h"

namespace ia::ipfs {

inline constexpr size_t kMaxCarHeader = 1 << 20;
inline constexpr size_t kMaxCarSection = 8 << 20;  // blocks are at most 2 MiB; some slack

Bytes encode_car_header(const std::vector<Cid>& roots);
// Throws ia::Error(Corrupt) for anything but a version-1 header with roots.
std::vector<Cid> decode_car_header(BytesView header);

struct CarExportStats {
  size_t blocks = 0;
  uint64_t bytes = 0;
};
CarExportStats write_car(Blockstore& store, const Cid& root, std::ostream& out);

struct CarImportStats {
  int version = 1;
  std::vector<Cid> roots;
  size_t blocks = 0;
  uint64_t bytes = 0;  // block bytes
};
// Reads a CARv1 or CARv2 stream; every block is verified before `sink.put`.
// Throws ia::Error(Corrupt) on a malformed or truncated file or a block whose
// hash does not match, Unsupported on an unknown hash function.
CarImportStats read_car(std::istream& in, BlockSink& sink);

}  // namespace ia::ipfs
