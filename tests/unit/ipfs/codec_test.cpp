// dag-pb and UnixFS: byte-exact encodings from the fixtures, strict decoding.
#include <gtest/gtest.h>

#include "core/error.h"
#include "ipfs/dag_pb.h"
#include "ipfs/unixfs.h"
#include "unit/ipfs/fixtures.h"

namespace ia::ipfs {
namespace {

TEST(DagPb, EmptyFileAndEmptyDirectoryBlocks) {
  UnixfsData f;
  f.type = UnixfsType::File;
  f.filesize = 0;
  PbNode n;
  n.data = encode_unixfs(f);
  EXPECT_EQ(to_hex(encode_pb_node(n)), "0a0408021800");
  EXPECT_EQ(Cid::of(0, kCodecDagPb, encode_pb_node(n)).to_string(), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  UnixfsData d;
  d.type = UnixfsType::Directory;
  n.data = encode_unixfs(d);
  EXPECT_EQ(to_hex(encode_pb_node(n)), "0a020801");
  EXPECT_EQ(Cid::of(1, kCodecDagPb, encode_pb_node(n)).to_string(),
            "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");
}

TEST(DagPb, FixtureRootBlocksDecodeAndReencodeIdentically) {
  size_t n = 0;
  for (const auto& f : test::cids_json()["files"]) {
    for (const auto& [mode, m] : f["cids"].items()) {
      if (!m.contains("root_block_hex")) continue;
      Bytes block = from_hex(m["root_block_hex"].get<std::string>());
      EXPECT_EQ(Cid::of(Cid::parse(m["root"].get<std::string>()).version, kCodecDagPb, block).to_string(), m["root"]);
      PbNode node = decode_pb_node(block);
      EXPECT_EQ(encode_pb_node(node), block);
      ASSERT_TRUE(node.data);
      UnixfsData d = decode_unixfs(*node.data);
      EXPECT_EQ(d.type, UnixfsType::File);
      EXPECT_EQ(*d.filesize, f["size"].get<uint64_t>());
      EXPECT_EQ(d.blocksizes.size(), node.links.size());
      EXPECT_EQ(encode_unixfs(d), *node.data);
      for (size_t i = 0; i < node.links.size(); ++i) {
        EXPECT_EQ(node.links[i].cid.to_string(), m["leaves"][i]);
        EXPECT_EQ(node.links[i].name, std::string());
      }
      ++n;
    }
  }
  EXPECT_EQ(n, 6u);
}

TEST(DagPb, StrictDecodingRejectsNonCanonicalBlocks) {
  UnixfsData d;
  d.type = UnixfsType::Directory;
  Bytes data = encode_unixfs(d);
  PbNode node;
  node.links.push_back(PbLink{Cid::of(1, kCodecRaw, "x"), "a", 1});
  node.data = data;
  Bytes good = encode_pb_node(node);
  EXPECT_EQ(decode_pb_node(good), node);
  // Data before a link.
  Bytes swapped = Bytes("\x0a\x02", 2) + data + good.substr(0, good.size() - data.size() - 2);
  EXPECT_THROW(decode_pb_node(swapped), Error);
  EXPECT_THROW(decode_pb_node(from_hex("0a05")), Error);  // truncated
  EXPECT_THROW(decode_pb_node(from_hex("1800")), Error);  // unknown field
  EXPECT_THROW(decode_pb_node(from_hex("1202"
                                       "1200")),
               Error);                                    // link without hash
  EXPECT_THROW(decode_pb_node(from_hex("0800")), Error);  // wrong wire type
  EXPECT_THROW(decode_unixfs(from_hex("0809")), Error);   // unknown UnixFS type
  EXPECT_THROW(decode_unixfs(from_hex("1800")), Error);   // no type
}

}  // namespace
}  // namespace ia::ipfs
