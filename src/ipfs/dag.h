#pragma once
// Walking a DAG block by block: the links of a block by codec, and a
// depth-first pre-order traversal without duplicates (the CAR export order).
#include <functional>
#include <vector>

#include "ipfs/blockstore.h"

namespace ia::ipfs {

// Links of a dag-pb block; none for raw. Throws ia::Error(Unsupported) for
// codecs that cannot be traversed here (dag-cbor), Corrupt for a bad block.
std::vector<Cid> block_links(const Cid& cid, BytesView block);

// Visits every block reachable from `root`, root first and links in order,
// each CID once. Every block is verified (Blockstore::get); a missing one throws
// ia::Error(NotFound).
void walk_dag(Blockstore& store, const Cid& root, const std::function<void(const Cid&, const Bytes&)>& fn);

}  // namespace ia::ipfs
