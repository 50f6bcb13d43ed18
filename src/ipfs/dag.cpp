#include "ipfs/dag.h"

#include <unordered_set>

#include "core/error.h"
#include "ipfs/dag_pb.h"

namespace ia::ipfs {

std::vector<Cid> block_links(const Cid& cid, BytesView block) {
  if (cid.codec == kCodecRaw) return {};
  if (cid.codec != kCodecDagPb) {
    fail(ErrorKind::Unsupported, "cannot traverse {}: codec 0x{:x} ({}) is not supported", cid.to_string(), cid.codec,
         codec_name(cid.codec).empty() ? "unknown" : codec_name(cid.codec));
  }
  std::vector<Cid> out;
  for (auto& l : decode_pb_node(block).links) out.push_back(std::move(l.cid));
  return out;
}

void walk_dag(Blockstore& store, const Cid& root, const std::function<void(const Cid&, const Bytes&)>& fn) {
  // An explicit stack: a hostile DAG can be arbitrarily deep.
  std::unordered_set<Cid> seen;
  std::vector<Cid> stack{root};
  while (!stack.empty()) {
    Cid cid = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(cid).second) continue;
    Bytes block = load_block(store, cid);
    auto links = block_links(cid, block);
    fn(cid, block);
    for (auto it = links.rbegin(); it != links.rend(); ++it) {
      if (!seen.count(*it)) stack.push_back(std::move(*it));
    }
  }
}

}  // namespace ia::ipfs
