#pragma once
// Which blocks a trustless-gateway CAR response holds, in order, produced
// lazily so a server streams any DAG with memory for one block plus the DFS
// stack: first the blocks that prove the path (each directory node and every
// HAMT shard node passed through), then the blocks of the requested
// dag-scope (block | entity | all), narrowed by entity-bytes for files, with
// or without duplicates (dups=y|n). Identity CIDs are never emitted.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ipfs/blockstore.h"

namespace ia::ipfs {

// entity-bytes=from:to (inclusive; negative counts from the end; to may be "*").
struct EntityBytes {
  int64_t from = 0;
  std::optional<int64_t> to;  // nullopt: "*"
};
// Throws ia::Error(InvalidArgument) on malformed text.
EntityBytes parse_entity_bytes(std::string_view text);

enum class DagScope { Block, Entity, All };
// Throws ia::Error(InvalidArgument) for anything but block, entity, all.
DagScope parse_dag_scope(std::string_view text);

struct CarSelection {
  DagScope scope = DagScope::All;
  std::optional<EntityBytes> bytes;  // implies Entity
  bool dups = false;
};

class CarBlockSequence {
 public:
  // Resolves `path` under `root` now (ia::Error NotFound / InvalidArgument as
  // resolve_path does), so errors can still become an HTTP status. Throws
  // InvalidArgument when entity-bytes lies entirely outside a file.
  CarBlockSequence(Blockstore& store, const Cid& root, std::string_view path, const CarSelection& selection);
  // The next block (verified), or nullopt after the last. A block missing
  // from the store throws ia::Error(NotFound).
  std::optional<std::pair<Cid, Bytes>> next();
  // next() into the caller's buffer (reused across blocks: see
  // Blockstore::get_into): the block's CID, valid until the next call, or
  // nullptr after the last.
  const Cid* next(Bytes& block);
  const Cid& target() const { return target_; }

 private:
  struct Item {
    Cid cid;
    uint64_t offset = 0;  // the file byte offset where this subtree starts
    bool follow = true;   // whether to descend into its links
  };
  void plan_target();
  void push_children(const Cid& cid, BytesView block, uint64_t offset);

  Blockstore& store_;
  CarSelection sel_;
  Cid target_;
  std::vector<Cid> path_blocks_;
  size_t path_next_ = 0;
  std::vector<Item> stack_;
  Cid current_;
  // The target block as plan_target read (and verified) it, handed out by the
  // first next() instead of being read and hashed again.
  std::optional<Bytes> planned_;
  std::set<Multihash> seen_;
  bool hamt_only_ = false;  // entity of a sharded directory: its shard nodes, not its entries
  bool range_ = false;      // entity-bytes narrows the file's blocks to [lo_, hi_]
  uint64_t lo_ = 0, hi_ = 0;
};

}  // namespace ia::ipfs
