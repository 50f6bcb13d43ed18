#pragma once
// UnixFS: the protobuf carried in a dag-pb node's Data that says whether the
// node is a file, a directory, a HAMT shard or a symlink. Field order follows
// kubo's encoder so blocks are byte-identical: Type, Data, filesize,
// blocksizes (one unpacked varint each), hashType, fanout.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "ipfs/bytes.h"

namespace ia::ipfs {

enum class UnixfsType : uint64_t {
  Raw = 0,
  Directory = 1,
  File = 2,
  Metadata = 3,
  Symlink = 4,
  HamtShard = 5,
};

std::string_view unixfs_type_name(UnixfsType t);

struct UnixfsData {
  UnixfsType type = UnixfsType::File;
  std::optional<Bytes> data;
  std::optional<uint64_t> filesize;
  std::vector<uint64_t> blocksizes;
  std::optional<uint64_t> hash_type;
  std::optional<uint64_t> fanout;
  bool operator==(const UnixfsData&) const = default;
};

Bytes encode_unixfs(const UnixfsData& d);
// Throws ia::Error(Corrupt) on malformed data or an unknown type. Unknown
// fields (mode, mtime) are skipped.
UnixfsData decode_unixfs(BytesView bytes);

}  // namespace ia::ipfs
