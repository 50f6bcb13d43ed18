// The on-disk blockstore, pins, gc and verify; the exporter (cat, get, paths,
// hostile names) and CAR export/import against the fixture files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "ipfs/car.h"
#include "ipfs/dag_pb.h"
#include "ipfs/exporter.h"
#include "ipfs/hamt.h"
#include "ipfs/importer.h"
#include "ipfs/repo.h"
#include "ipfs/unixfs.h"
#include "ipfs/varint.h"
#include "unit/ipfs/fixtures.h"

namespace ia::ipfs {
namespace {

namespace fs = std::filesystem;

class TempHome : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "ia-ipfs-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

using Blockstore_ = TempHome;
using Exporter = TempHome;
using Car = TempHome;

TEST_F(Blockstore_, PutGetSharedByV0AndV1AndConcurrentWriters) {
  Repo repo(dir_);
  auto& bs = repo.blocks();
  std::string data = test::xorshift_bytes(1, 1000);
  BuiltNode root = import_bytes(data, bs, ImportOptions{});
  EXPECT_TRUE(bs.has(root.cid.hash));
  EXPECT_TRUE(bs.get(root.cid.to_v1().hash));
  std::stringstream out;
  cat_file(bs, root.cid.to_v1(), out);
  EXPECT_EQ(out.str(), data);
  // Eight threads writing the same and different blocks: no temp files left, all readable.
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string b = "block " + std::to_string(i % 25) + (t % 2 ? "" : "");
        bs.put(Cid::of(1, kCodecRaw, b), b);
      }
    });
  }
  for (auto& t : ts) t.join();
  size_t n = 0, tmp = 0;
  bs.for_each([&](const Multihash&) { ++n; });
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "blocks")) {
    if (e.path().filename().string().find(".tmp-") != std::string::npos) ++tmp;
  }
  EXPECT_EQ(n, 26u);
  EXPECT_EQ(tmp, 0u);
}

TEST_F(Blockstore_, PinsGcAndVerify) {
  Repo repo(dir_);
  BuiltNode keep = import_bytes(test::xorshift_bytes(1, 786449), repo.blocks(), ImportOptions{});
  BuiltNode drop = import_bytes(test::xorshift_bytes(2, 300000), repo.blocks(), ImportOptions{});
  repo.pin_add(keep.cid);
  EXPECT_TRUE(repo.is_pinned(keep.cid));
  ASSERT_EQ(repo.pins().size(), 1u);
  EXPECT_EQ(repo.pins()[0], keep.cid);
  EXPECT_EQ(repo.gc(), 3u);  // drop's root and two leaves
  EXPECT_FALSE(repo.blocks().has(drop.cid.hash));
  EXPECT_TRUE(repo.blocks().has(keep.cid.hash));
  EXPECT_THROW(repo.pin_add(drop.cid), Error);  // not all blocks present

  EXPECT_TRUE(repo.verify().corrupt.empty());
  // Damage a leaf on disk: get() refuses it, verify moves it aside.
  PbNode root = decode_pb_node(*repo.blocks().get(keep.cid.hash));
  fs::path leaf = repo.blocks().path_of(root.links[1].cid.hash);
  {
    std::fstream f(leaf, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('X');
  }
  EXPECT_THROW(repo.blocks().get(root.links[1].cid.hash), Error);
  std::stringstream sink;
  EXPECT_THROW(cat_file(repo.blocks(), keep.cid, sink), Error);
  VerifyReport r = repo.verify();
  EXPECT_EQ(r.corrupt.size(), 1u);
  EXPECT_FALSE(fs::exists(leaf));
  EXPECT_TRUE(fs::exists(dir_ / "corrupt" / leaf.filename()));
  EXPECT_TRUE(repo.verify().corrupt.empty());
  EXPECT_TRUE(repo.pin_rm(keep.cid));
  EXPECT_FALSE(repo.pin_rm(keep.cid));
}

// The in-memory store verifies on get() as the on-disk one does: bytes put
// under another block's hash are refused with Corrupt, on every read path.
TEST(MemoryBlockstore, GetRefusesABlockThatDoesNotMatchItsHash) {
  MemoryBlockstore store;
  const std::string good = "the bytes this CID names";
  const Cid good_cid = Cid::of(1, kCodecRaw, good);
  store.put(good_cid, good);
  ASSERT_TRUE(store.get(good_cid.hash));
  EXPECT_EQ(*store.get(good_cid.hash), good);

  const Cid damaged = Cid::of(1, kCodecRaw, "original bytes");
  store.put(damaged, std::string("damaged bytes"));
  EXPECT_TRUE(store.has(damaged.hash));  // present, but never handed out
  try {
    store.get(damaged.hash);
    ADD_FAILURE() << "a block that does not match its hash was returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
    EXPECT_NE(std::string(e.what()).find(damaged.to_string()), std::string::npos) << e.what();
  }
  try {
    load_block(store, damaged);
    ADD_FAILURE() << "load_block returned a corrupt block";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
  }
  // A file whose leaf is damaged: cat stops with Corrupt instead of printing wrong bytes.
  MemoryBlockstore whole;
  BuiltNode file = import_bytes(test::xorshift_bytes(3, 600000), whole, ImportOptions{});
  PbNode root = decode_pb_node(*whole.get(file.cid.hash));
  ASSERT_GE(root.links.size(), 2u);
  MemoryBlockstore tampered;
  whole.for_each([&](const Multihash& mh) {
    Bytes b = *whole.get(mh);
    if (mh == root.links[1].cid.hash) b[20] ^= 1;
    Cid c;
    c.hash = mh;
    tampered.put(c, b);
  });
  std::stringstream sink;
  try {
    cat_file(tampered, file.cid, sink);
    ADD_FAILURE() << "cat of a tampered file succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
  }
  EXPECT_EQ(store.get(Cid::of(1, kCodecRaw, "absent").hash), std::nullopt);
}

TEST_F(Exporter, CatGetAndPaths) {
  fs::path src = dir_ / "src";
  fs::create_directories(src / "sub" / "deeper");
  std::ofstream(src / "a.txt") << "alpha";
  std::ofstream(src / "sub" / "deeper" / "b.bin") << test::xorshift_bytes(5, 600000);
  fs::create_directories(src / "empty");
  MemoryBlockstore store;
  for (uint64_t v : {0u, 1u}) {
    ImportOptions o;
    o.cid_version = v;
    BuiltNode root = import_path(src, store, o, true);
    EXPECT_EQ(resolve_path(store, root.cid, "sub/deeper/b.bin"), resolve_path(store, root.cid, "/sub//deeper/b.bin/"));
    std::stringstream out;
    IpfsPath p = parse_ipfs_path("/ipfs/" + root.cid.to_string() + "/sub/deeper/b.bin");
    EXPECT_EQ(p.path, "sub/deeper/b.bin");
    cat_file(store, resolve_path(store, p.root, p.path), out);
    EXPECT_EQ(out.str(), test::xorshift_bytes(5, 600000));
    EXPECT_THROW(resolve_path(store, root.cid, "nope"), Error);
    EXPECT_THROW(resolve_path(store, root.cid, "a.txt/x"), Error);
    EXPECT_THROW(cat_file(store, root.cid, out), Error);  // a directory
    fs::path dest = dir_ / ("out" + std::to_string(v));
    export_to_path(store, root.cid, dest);
    EXPECT_EQ(test::read_all((dest / "a.txt").string()), "alpha");
    EXPECT_EQ(test::read_all((dest / "sub/deeper/b.bin").string()), test::xorshift_bytes(5, 600000));
    EXPECT_TRUE(fs::is_directory(dest / "empty"));
    EXPECT_THROW(export_to_path(store, root.cid, dest), Error);  // exists
  }
}

TEST_F(Exporter, HostileNamesNeverEscapeTheTarget) {
  MemoryBlockstore store;
  BuiltNode file = import_bytes("evil", store, ImportOptions{});
  for (const std::string& bad : std::vector<std::string>{"../x", "..", ".", "", "a/b", std::string("a\0b", 3)}) {
    // build_directory trusts its caller, so craft the node by hand.
    PbNode node;
    node.links.push_back(PbLink{file.cid, bad, file.tsize});
    UnixfsData d;
    d.type = UnixfsType::Directory;
    node.data = encode_unixfs(d);
    Bytes block = encode_pb_node(node);
    Cid cid = Cid::of(1, kCodecDagPb, block);
    store.put(cid, block);
    fs::path dest = dir_ / "target";
    try {
      export_to_path(store, cid, dest);
      ADD_FAILURE() << "accepted name \"" << bad << "\"";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
    }
    EXPECT_FALSE(fs::exists(dest));
    EXPECT_FALSE(fs::exists(dir_ / "x"));
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 0);
}

TEST_F(Exporter, HamtDirectoryReadsBack) {
  MemoryBlockstore store;
  BuiltNode x = import_bytes("x", store, ImportOptions{});
  std::vector<DirEntryLink> entries;
  for (int i = 0; i < 5000; ++i)
    entries.push_back(DirEntryLink{fmt::format("file-{:05}-{}", i, std::string(40, 'n')), x.cid, x.tsize});
  BuiltNode dir = build_directory(entries, store, 1);
  PbNode root = decode_pb_node(*store.get(dir.cid.hash));
  EXPECT_EQ(decode_unixfs(*root.data).type, UnixfsType::HamtShard);
  auto listing = list_directory(store, dir.cid);
  EXPECT_EQ(listing.size(), 5000u);
  Cid c = resolve_path(store, dir.cid, fmt::format("file-{:05}-{}", 4321, std::string(40, 'n')));
  EXPECT_EQ(c, x.cid);
}

// A hand-made shard node (the hash is not checked by a listing).
Cid put_shard(MemoryBlockstore& store, std::vector<PbLink> links, std::optional<uint64_t> hash_type) {
  UnixfsData d;
  d.type = UnixfsType::HamtShard;
  d.data = Bytes(1, '\x01');
  d.hash_type = hash_type;
  d.fanout = kHamtFanout;
  PbNode n;
  n.data = encode_unixfs(d);
  n.links = std::move(links);
  Bytes block = encode_pb_node(n);
  Cid c = Cid::of(1, kCodecDagPb, block);
  store.put(c, block);
  return c;
}

TEST_F(Exporter, HamtWithARepeatedChildShardIsCorrupt) {
  // 256 links per level to one child, 8 levels deep, would list 256^8 entries.
  MemoryBlockstore store;
  BuiltNode x = import_bytes("x", store, ImportOptions{});
  Cid child = put_shard(store, {PbLink{x.cid, std::string("ABname"), x.tsize}}, kHashMurmur3X64_64);
  Cid root =
      put_shard(store, {PbLink{child, std::string("00"), 1}, PbLink{child, std::string("01"), 1}}, kHashMurmur3X64_64);
  try {
    auto listing = list_directory(store, root);
    ADD_FAILURE() << "listed " << listing.size() << " entries";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
  }
}

TEST_F(Exporter, HamtLookupRefusesAnotherHashFunction) {
  // Looking a name up by the wrong hash would call a present entry missing.
  MemoryBlockstore store;
  BuiltNode x = import_bytes("x", store, ImportOptions{});
  Cid root = put_shard(store, {PbLink{x.cid, std::string("00name"), x.tsize}}, std::nullopt);
  try {
    resolve_path(store, root, "name");
    ADD_FAILURE() << "resolved through a HAMT without murmur3";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported) << e.what();
  }
}

TEST_F(Car, ExportIsByteIdenticalToFixturesAndImportVerifies) {
  for (const auto& car : test::cids_json()["cars"]) {
    std::string fixture = test::read_all(test::kIpfsFixtures + "/" + car["file"].get<std::string>());
    ASSERT_EQ(to_hex(sha256(fixture)), car["sha256"]);
    size_t size = std::stoul(car["input"].get<std::string>().substr(4));
    ImportOptions o;
    if (car["mode"] == "kubo-cidv1") o.cid_version = 1;
    MemoryBlockstore store;
    BuiltNode root = import_bytes(test::xorshift_bytes(1, size), store, o);
    EXPECT_EQ(root.cid.to_string(), car["root"]);
    std::stringstream out;
    CarExportStats es = write_car(store, root.cid, out);
    EXPECT_EQ(es.blocks, car["blocks"].get<size_t>());
    EXPECT_TRUE(out.str() == fixture) << car["file"];

    std::istringstream in(fixture);
    MemoryBlockstore imported;
    CarImportStats is = read_car(in, imported);
    EXPECT_EQ(is.roots.at(0).to_string(), car["root"]);
    EXPECT_EQ(is.blocks, car["blocks"].get<size_t>());
    std::stringstream content;
    cat_file(imported, is.roots[0], content);
    EXPECT_EQ(content.str(), test::xorshift_bytes(1, size));
  }
}

TEST_F(Car, BadCarsAreRejected) {
  std::string good = test::read_all(test::kIpfsFixtures + "/car/xs1_786449.kubo-cidv1.car");
  auto import = [](const std::string& bytes) {
    std::istringstream in(bytes);
    MemoryBlockstore s;
    return read_car(in, s);
  };
  auto expect_corrupt = [&](const std::string& bytes, const char* what) {
    try {
      import(bytes);
      ADD_FAILURE() << what << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << what << ": " << e.what();
    }
  };
  expect_corrupt(good.substr(0, good.size() - 1), "truncated block");
  expect_corrupt(good.substr(0, 30), "truncated header");
  expect_corrupt("", "empty");
  std::string flipped = good;
  flipped[good.size() - 100] ^= 1;
  expect_corrupt(flipped, "flipped byte");
  std::string bad_header = good;
  bad_header[1] = '\xa3';
  expect_corrupt(bad_header, "bad header");
  // A section whose CID names an unknown hash function.
  std::string unknown = encode_car_header({Cid::of(1, kCodecRaw, "x")});
  Bytes cid = from_hex(
                  "015513"
                  "20") +
              Bytes(32, 'a');  // sha3-512 code 0x13 with 32 bytes
  unknown += encode_varint(cid.size() + 1) + cid + "x";
  EXPECT_THROW(import(unknown), Error);
}

TEST_F(Car, ReadsCarV2) {
  std::string v1 = test::read_all(test::kIpfsFixtures + "/car/xs1_786449.kubo-cidv1.car");
  Bytes v2 = from_hex("0aa16776657273696f6e02");  // the CARv2 pragma
  Bytes fixed(40, '\0');
  uint64_t offset = v2.size() + 40 + 7, size = v1.size();  // 7 bytes of padding before the payload
  for (int i = 0; i < 8; ++i) fixed[16 + i] = static_cast<char>(offset >> (8 * i));
  for (int i = 0; i < 8; ++i) fixed[24 + i] = static_cast<char>(size >> (8 * i));
  std::string file = v2 + fixed + Bytes(7, '\0') + v1 + "index bytes that are ignored";
  std::istringstream in(file);
  MemoryBlockstore s;
  CarImportStats st = read_car(in, s);
  EXPECT_EQ(st.version, 2);
  EXPECT_EQ(st.blocks, 5u);
  EXPECT_EQ(st.roots[0].to_string(), "bafybeih75bvjdmqn7jt2xxt5v77dzisdgbf7nbfya27evm3gvancdql4ja");
}

TEST_F(Car, CarV2PayloadShorterThanItsDeclaredSizeIsCorrupt) {
  // The file ends on a section boundary but before data offset + data size:
  // blocks are missing, which a CARv2 (unlike a CARv1) can tell.
  std::string v1 = test::read_all(test::kIpfsFixtures + "/car/xs1_786449.kubo-cidv1.car");
  Bytes v2 = from_hex("0aa16776657273696f6e02");
  Bytes fixed(40, '\0');
  uint64_t offset = v2.size() + 40, size = v1.size() + 1000;
  for (int i = 0; i < 8; ++i) fixed[16 + i] = static_cast<char>(offset >> (8 * i));
  for (int i = 0; i < 8; ++i) fixed[24 + i] = static_cast<char>(size >> (8 * i));
  std::istringstream in(v2 + fixed + v1);
  MemoryBlockstore s;
  try {
    read_car(in, s);
    ADD_FAILURE() << "a truncated CARv2 payload was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
  }
}

}  // namespace
}  // namespace ia::ipfs
