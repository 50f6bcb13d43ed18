#include "ipfs/unixfs.h"

#include "core/error.h"
#include "ipfs/protobuf.h"

namespace ia::ipfs {

std::string_view unixfs_type_name(UnixfsType t) {
  switch (t) {
    case UnixfsType::Raw: return "raw";
    case UnixfsType::Directory: return "directory";
    case UnixfsType::File: return "file";
    case UnixfsType::Metadata: return "metadata";
    case UnixfsType::Symlink: return "symlink";
    case UnixfsType::HamtShard: return "hamt-sharded-directory";
  }
  return "unknown";
}

Bytes encode_unixfs(const UnixfsData& d) {
  Bytes out;
  pb::put_varint_field(out, 1, static_cast<uint64_t>(d.type));
  if (d.data) pb::put_bytes_field(out, 2, *d.data);
  if (d.filesize) pb::put_varint_field(out, 3, *d.filesize);
  for (uint64_t b : d.blocksizes) pb::put_varint_field(out, 4, b);
  if (d.hash_type) pb::put_varint_field(out, 5, *d.hash_type);
  if (d.fanout) pb::put_varint_field(out, 6, *d.fanout);
  return out;
}

UnixfsData decode_unixfs(BytesView bytes) {
  pb::Reader r(bytes, "UnixFS data");
  UnixfsData d;
  bool have_type = false;
  uint32_t field;
  pb::WireType type;
  auto want = [&](pb::WireType expected) {
    if (type != expected)
      fail(ErrorKind::Corrupt, "UnixFS data: field {} has wire type {}", field, static_cast<int>(type));
  };
  while (r.next(field, type)) {
    switch (field) {
      case 1: {
        want(pb::kVarint);
        uint64_t t = r.varint();
        if (t > 5) fail(ErrorKind::Corrupt, "UnixFS data: unknown type {}", t);
        d.type = static_cast<UnixfsType>(t);
        have_type = true;
        break;
      }
      case 2:
        want(pb::kLen);
        d.data = Bytes(r.bytes());
        break;
      case 3:
        want(pb::kVarint);
        d.filesize = r.varint();
        break;
      case 4:
        if (type == pb::kLen) {  // packed encoding: accepted on input, never written
          pb::Reader packed(r.bytes(), "UnixFS blocksizes");
          while (!packed.done()) d.blocksizes.push_back(packed.varint());
        } else {
          want(pb::kVarint);
          d.blocksizes.push_back(r.varint());
        }
        break;
      case 5:
        want(pb::kVarint);
        d.hash_type = r.varint();
        break;
      case 6:
        want(pb::kVarint);
        d.fanout = r.varint();
        break;
      default: r.skip(type); break;
    }
  }
  if (!have_type) fail(ErrorKind::Corrupt, "UnixFS data without a Type");
  return d;
}

}  // namespace ia::ipfs
