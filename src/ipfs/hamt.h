#pragma once
// HAMT-sharded UnixFS directories as kubo (boxo) writes them: fanout 256,
// keys hashed with murmur3-x64-64, one byte of the hash per level, a slot holds
// either one entry (link name = 2 upper-case hex digits + entry name) or a
// child shard (link name = the 2 hex digits alone).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ipfs/blockstore.h"
#include "ipfs/dag_pb.h"

namespace ia::ipfs {

inline constexpr uint64_t kHashMurmur3X64_64 = 0x22;
inline constexpr uint64_t kHamtFanout = 256;

// First 64 bits of MurmurHash3_x64_128 (seed 0), as boxo's murmur3.New64 gives them.
uint64_t murmur3_x64_64(BytesView data);

struct DirEntryLink {
  std::string name;
  Cid cid;
  uint64_t tsize = 0;
};

struct BuiltNode {
  Cid cid;
  uint64_t tsize = 0;  // block size + the tsizes of all links
};

// Writes a sharded directory holding `entries` into `sink` and returns its root.
BuiltNode build_hamt_directory(std::vector<DirEntryLink> entries, BlockSink& sink, uint64_t cid_version);

// Calls fn(name, link) for every entry of the sharded directory whose root node
// is `root` (already decoded), loading child shards from `store`. Throws
// ia::Error(Corrupt) on a malformed shard.
void for_each_hamt_entry(const PbNode& root, Blockstore& store,
                         const std::function<void(const std::string&, const PbLink&)>& fn);

// Looks `name` up in the sharded directory whose root node is `root` (already
// decoded) by its hash, loading only the child shards on that route (appended
// to `route` when given, so a gateway can prove the path with them). nullopt
// when the name is absent. Throws ia::Error(Corrupt) on a malformed shard,
// Unsupported for a fanout other than 256.
std::optional<Cid> hamt_find(const PbNode& root, Blockstore& store, std::string_view name,
                             std::vector<Cid>* route = nullptr);

}  // namespace ia::ipfs
