#pragma once
// dag-pb (the merkledag protobuf): a node is links plus optional opaque data.
// Encoding is canonical per the dag-pb spec: links (field 2) before data
// (field 1), each link Hash, Name, Tsize in that order. Decoding is strict in
// the same way, so a block decodes only if re-encoding gives the same bytes.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ipfs/cid.h"

namespace ia::ipfs {

struct PbLink {
  Cid cid;
  std::optional<std::string> name;  // kubo always writes it, empty for file chunks
  std::optional<uint64_t> tsize;    // cumulative size of the linked DAG
  bool operator==(const PbLink&) const = default;
};

struct PbNode {
  std::vector<PbLink> links;
  std::optional<Bytes> data;
  bool operator==(const PbNode&) const = default;
};

Bytes encode_pb_node(const PbNode& node);
// Throws ia::Error(Corrupt) on anything that is not a valid dag-pb block.
PbNode decode_pb_node(BytesView block);

}  // namespace ia::ipfs
