#include "ipfs/dag_pb.h"

#include "core/error.h"
#include "ipfs/protobuf.h"

namespace ia::ipfs {

namespace {

PbLink decode_link(BytesView bytes) {
  pb::Reader r(bytes, "dag-pb link");
  PbLink link;
  bool have_hash = false;
  uint32_t last = 0, field;
  pb::WireType type;
  while (r.next(field, type)) {
    // Hash (1), Name (2), Tsize (3), each at most once, in that order.
    if (field <= last || field > 3) fail(ErrorKind::Corrupt, "dag-pb link: unexpected field {}", field);
    last = field;
    if (field == 1) {
      if (type != pb::kLen) fail(ErrorKind::Corrupt, "dag-pb link: Hash has wire type {}", static_cast<int>(type));
      link.cid = Cid::from_bytes(r.bytes());
      have_hash = true;
    } else if (field == 2) {
      if (type != pb::kLen) fail(ErrorKind::Corrupt, "dag-pb link: Name has wire type {}", static_cast<int>(type));
      link.name = std::string(r.bytes());
    } else {
      if (type != pb::kVarint) fail(ErrorKind::Corrupt, "dag-pb link: Tsize has wire type {}", static_cast<int>(type));
      link.tsize = r.varint();
    }
  }
  if (!have_hash) fail(ErrorKind::Corrupt, "dag-pb link without a Hash");
  return link;
}

}  // namespace

Bytes encode_pb_node(const PbNode& node) {
  Bytes out;
  for (const auto& link : node.links) {
    Bytes l;
    pb::put_bytes_field(l, 1, link.cid.bytes());
    if (link.name) pb::put_bytes_field(l, 2, *link.name);
    if (link.tsize) pb::put_varint_field(l, 3, *link.tsize);
    pb::put_bytes_field(out, 2, l);
  }
  if (node.data) pb::put_bytes_field(out, 1, *node.data);
  return out;
}

PbNode decode_pb_node(BytesView block) {
  pb::Reader r(block, "dag-pb node");
  PbNode node;
  uint32_t field;
  pb::WireType type;
  while (r.next(field, type)) {
    if (type != pb::kLen)
      fail(ErrorKind::Corrupt, "dag-pb node: field {} has wire type {}", field, static_cast<int>(type));
    if (field == 2) {
      if (node.data) fail(ErrorKind::Corrupt, "dag-pb node: link after Data");
      node.links.push_back(decode_link(r.bytes()));
    } else if (field == 1) {
      if (node.data) fail(ErrorKind::Corrupt, "dag-pb node: duplicate Data");
      node.data = Bytes(r.bytes());
    } else {
      fail(ErrorKind::Corrupt, "dag-pb node: unexpected field {}", field);
    }
  }
  return node;
}

}  // namespace ia::ipfs
