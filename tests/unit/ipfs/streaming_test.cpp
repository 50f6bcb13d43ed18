// The streaming pieces: the push CAR reader (fed in any split, it agrees with
// read_car and rejects what read_car rejects), the CAR block sequence a server
// streams (path proofs through HAMT shards, dag-scope, entity-bytes, dups),
// and the blockstore's batched commits.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "ipfs/car.h"
#include "ipfs/car_selection.h"
#include "ipfs/car_stream.h"
#include "ipfs/dag_pb.h"
#include "ipfs/exporter.h"
#include "ipfs/fs_blockstore.h"
#include "ipfs/importer.h"
#include "ipfs/repo.h"
#include "ipfs/unixfs.h"
#include "unit/ipfs/fixtures.h"

namespace ia::ipfs {
namespace {

namespace fs = std::filesystem;

std::vector<Cid> stream_cids(const std::string& car, size_t piece) {
  std::vector<Cid> out;
  CarStreamReader r([&](const Cid& c, BytesView) { out.push_back(c); });
  for (size_t i = 0; i < car.size(); i += piece) r.feed(BytesView(car).substr(i, piece));
  r.finish();
  return out;
}

TEST(CarStream, AgreesWithTheFileReaderInAnySplit) {
  std::string car = test::read_all(test::kIpfsFixtures + "/car/xs1_786449.kubo-cidv1.car");
  std::istringstream in(car);
  MemoryBlockstore whole;
  CarImportStats st = read_car(in, whole);
  for (size_t piece : {size_t{1}, size_t{7}, size_t{4096}, car.size()}) {
    auto cids = stream_cids(car, piece);
    ASSERT_EQ(cids.size(), st.blocks) << piece;
    for (const auto& c : cids) EXPECT_TRUE(whole.has(c.hash));
  }
  // Truncated: every complete block before the cut is delivered, then finish() refuses.
  size_t delivered = 0;
  CarStreamReader r([&](const Cid&, BytesView) { ++delivered; });
  r.feed(BytesView(car).substr(0, car.size() - 10));
  EXPECT_EQ(delivered, st.blocks - 1);
  EXPECT_THROW(r.finish(), Error);
  // A flipped byte in the last block: the earlier blocks pass, that one throws Corrupt.
  std::string flipped = car;
  flipped[car.size() - 5] ^= 1;
  try {
    stream_cids(flipped, 1000);
    ADD_FAILURE() << "accepted a forged block";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Corrupt);
  }
  EXPECT_THROW(stream_cids("", 1), Error);                       // no header
  EXPECT_THROW(stream_cids(std::string(12, '\xff'), 3), Error);  // varint too long
}

// A sharded directory with a file deep in it.
struct Tree {
  MemoryBlockstore store;
  BuiltNode file, dir;
  std::string name = fmt::format("file-{:05}-{}", 4321, std::string(40, 'n'));
  Tree() {
    file = import_bytes(test::xorshift_bytes(5, 1'000'000), store, ImportOptions{1, {}, 65536});
    BuiltNode x = import_bytes("x", store, ImportOptions{});
    std::vector<DirEntryLink> entries;
    for (int i = 0; i < 5000; ++i) {
      std::string n = fmt::format("file-{:05}-{}", i, std::string(40, 'n'));
      entries.push_back(DirEntryLink{n, n == name ? file.cid : x.cid, n == name ? file.tsize : x.tsize});
    }
    dir = build_directory(entries, store, 1);
  }
};

std::vector<std::pair<Cid, Bytes>> all_of(CarBlockSequence seq) {
  std::vector<std::pair<Cid, Bytes>> out;
  while (auto b = seq.next()) out.push_back(std::move(*b));
  return out;
}

TEST(CarSelection, PathThroughHamtShardsScopesAndEntityBytes) {
  Tree t;
  // The path proof: the root shard and the inner shard(s) leading to the name, then the file.
  auto blocks = all_of(CarBlockSequence(t.store, t.dir.cid, t.name, {}));
  size_t shards = 0;
  for (const auto& [c, b] : blocks) {
    if (c.codec == kCodecDagPb && decode_unixfs(*decode_pb_node(b).data).type == UnixfsType::HamtShard) ++shards;
  }
  EXPECT_GE(shards, 2u);                      // 5000 entries: the root shard has child shards
  EXPECT_EQ(blocks.size(), shards + 1 + 16);  // + the file root + 16 leaves of 64 KiB
  // A client can verify the path with only these blocks (the hashed HAMT lookup needs no other shard).
  MemoryBlockstore client;
  for (const auto& [c, b] : blocks) client.put(c, b);
  CarSelection block_scope{DagScope::Block, {}, false};
  EXPECT_EQ(CarBlockSequence(client, t.dir.cid, t.name, block_scope).target(), t.file.cid);
  EXPECT_EQ(resolve_path(client, t.dir.cid, t.name), t.file.cid);  // the exporter takes the same route

  EXPECT_EQ(all_of(CarBlockSequence(t.store, t.dir.cid, t.name, block_scope)).size(), shards + 1);
  // Entity of the sharded directory: its shard nodes, not the 5000 entries.
  CarSelection entity{DagScope::Entity, {}, false};
  auto dir_entity = all_of(CarBlockSequence(t.store, t.dir.cid, "", entity));
  EXPECT_GT(dir_entity.size(), 256u);
  EXPECT_LT(dir_entity.size(), 1000u);
  for (const auto& [c, b] : dir_entity) EXPECT_EQ(decode_unixfs(*decode_pb_node(b).data).type, UnixfsType::HamtShard);

  // entity-bytes: only the leaves overlapping the range.
  auto range = [&](const std::string& spec) {
    CarSelection s{DagScope::All, parse_entity_bytes(spec), false};
    return all_of(CarBlockSequence(t.store, t.file.cid, "", s)).size();
  };
  EXPECT_EQ(range("0:*"), 17u);
  EXPECT_EQ(range("0:0"), 2u);              // root + first leaf
  EXPECT_EQ(range("65535:65536"), 3u);      // spans two leaves
  EXPECT_EQ(range("-1:*"), 2u);             // the last byte
  EXPECT_EQ(range("100:-999990"), 1u);      // [100, 10]: empty, so the root block alone
  EXPECT_THROW(range("2000000:*"), Error);  // wholly past the end: 400
  EXPECT_THROW(parse_entity_bytes("a:b"), Error);
  EXPECT_THROW(parse_dag_scope("some"), Error);
  // Fetching a range and reading it back from just those blocks.
  CarSelection s{DagScope::Entity, parse_entity_bytes("70000:140000"), false};
  MemoryBlockstore partial;
  for (auto& [c, b] : all_of(CarBlockSequence(t.store, t.file.cid, "", s))) partial.put(c, b);
  EXPECT_EQ(partial.size(), 3u);
}

TEST(CarSelection, DupsAreSentEachTimeOnlyWhenAsked) {
  MemoryBlockstore store;
  // Two identical files in one folder: their blocks occur twice in the DAG.
  BuiltNode f = import_bytes(test::xorshift_bytes(7, 600000), store, ImportOptions{});
  BuiltNode dir = build_directory({{"a", f.cid, f.tsize}, {"b", f.cid, f.tsize}}, store, 0);
  auto n = all_of(CarBlockSequence(store, dir.cid, "", {})).size();
  auto y = all_of(CarBlockSequence(store, dir.cid, "", {DagScope::All, {}, true})).size();
  EXPECT_EQ(n, 1u + 4u);      // dir, file root, 3 leaves
  EXPECT_EQ(y, 1u + 2 * 4u);  // the file's blocks twice
}

// A store that counts reads, to see that each block is read (and hashed) once.
class CountingStore : public Blockstore {
 public:
  explicit CountingStore(Blockstore& inner) : inner_(inner) {}
  void put(const Cid& c, BytesView b) override { inner_.put(c, b); }
  bool has(const Multihash& mh) override { return inner_.has(mh); }
  std::optional<Bytes> get(const Multihash& mh) override {
    ++reads[mh];
    return inner_.get(mh);
  }
  bool remove(const Multihash& mh) override { return inner_.remove(mh); }
  void for_each(const std::function<void(const Multihash&)>& fn) override { inner_.for_each(fn); }
  std::map<Multihash, int> reads;

 private:
  Blockstore& inner_;
};

// The gateway's path: blocks come into one caller buffer, each read once,
// the target of an entity request included (plan_target's read is reused).
TEST(CarSelection, EachBlockIsReadOnceIntoTheCallersBuffer) {
  MemoryBlockstore store;
  BuiltNode f = import_bytes(test::xorshift_bytes(5, 1'000'000), store, ImportOptions{});
  for (CarSelection sel : {CarSelection{}, CarSelection{DagScope::Entity, {}, false},
                           CarSelection{DagScope::All, parse_entity_bytes("0:*"), false}}) {
    CountingStore counting(store);
    CarBlockSequence seq(counting, f.cid, "", sel);
    Bytes block;
    std::vector<std::pair<Cid, Bytes>> got;
    while (const Cid* c = seq.next(block)) got.emplace_back(*c, block);
    EXPECT_TRUE(got == all_of(CarBlockSequence(store, f.cid, "", sel)));
    ASSERT_EQ(got.size(), 5u);  // the root and four leaves
    EXPECT_EQ(counting.reads.size(), got.size());
    for (const auto& [mh, n] : counting.reads) EXPECT_EQ(n, 1);
  }
}

// get_into reads a block into the caller's buffer without reallocating it
// once it is large enough, and verifies it as get() does.
TEST(FsBlockstoreRead, GetIntoReusesTheBufferAndStillVerifies) {
  std::string templ = (fs::temp_directory_path() / "ia-ipfs-XXXXXX").string();
  ASSERT_NE(::mkdtemp(templ.data()), nullptr);
  fs::path dir = templ;
  {
    FsBlockstore bs(dir / "blocks");
    const Bytes a = test::xorshift_bytes(1, 262144), b = test::xorshift_bytes(2, 262144);
    const Cid ca = Cid::of(1, kCodecRaw, a), cb = Cid::of(1, kCodecRaw, b);
    bs.put(ca, a);
    Bytes buf;
    ASSERT_TRUE(bs.get_into(ca.hash, buf));  // staged
    EXPECT_TRUE(buf == a);
    bs.put(cb, b);
    bs.sync();
    const char* storage = buf.data();
    ASSERT_TRUE(bs.get_into(cb.hash, buf));  // committed
    EXPECT_TRUE(buf == b);
    EXPECT_EQ(buf.data(), storage);  // the same allocation: nothing new per block
    EXPECT_FALSE(bs.get_into(Cid::of(1, kCodecRaw, "absent").hash, buf));
    // A damaged file is refused, not handed out.
    { std::ofstream(bs.path_of(cb.hash), std::ios::binary | std::ios::trunc) << a; }
    try {
      bs.get_into(cb.hash, buf);
      ADD_FAILURE() << "a block that does not match its hash was returned";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
    }
    EXPECT_THROW(bs.get(cb.hash), Error);
    EXPECT_TRUE(bs.get_unverified(cb.hash) == a);  // `repo verify` still sees the bytes as stored
    // The in-memory store too.
    MemoryBlockstore mem;
    mem.put(ca, b);
    EXPECT_THROW(mem.get_into(ca.hash, buf), Error);
    mem.put(cb, b);
    ASSERT_TRUE(mem.get_into(cb.hash, buf));
    EXPECT_TRUE(buf == b);
  }
  fs::remove_all(dir);
}

TEST(FsBlockstoreCommit, StagedBlocksAreServedThenCommittedUnderTheirNames) {
  std::string templ = (fs::temp_directory_path() / "ia-ipfs-XXXXXX").string();
  ASSERT_NE(::mkdtemp(templ.data()), nullptr);
  fs::path dir = templ;
  {
    FsBlockstore bs(dir / "blocks");
    Cid c = Cid::of(1, kCodecRaw, "staged");
    bs.put(c, "staged");
    EXPECT_EQ(bs.staged(), 1u);
    EXPECT_TRUE(bs.has(c.hash));
    EXPECT_EQ(*bs.get(c.hash), "staged");
    EXPECT_FALSE(fs::exists(bs.path_of(c.hash)));  // not under its final name before the commit
    FsBlockstore other(dir / "blocks");
    EXPECT_FALSE(other.has(c.hash));
    bs.sync();
    EXPECT_EQ(bs.staged(), 0u);
    EXPECT_TRUE(fs::exists(bs.path_of(c.hash)));
    EXPECT_TRUE(other.has(c.hash));
    // remove() of a staged block drops its temporary.
    Cid d = Cid::of(1, kCodecRaw, "dropped");
    bs.put(d, "dropped");
    EXPECT_TRUE(bs.remove(d.hash));
    EXPECT_FALSE(bs.has(d.hash));
    // The destructor commits.
    bs.put(Cid::of(1, kCodecRaw, "at exit"), "at exit");
  }
  FsBlockstore again(dir / "blocks");
  EXPECT_TRUE(again.has(Cid::of(1, kCodecRaw, "at exit").hash));
  size_t n = 0;
  again.for_each([&](const Multihash&) { ++n; });
  EXPECT_EQ(n, 2u);
  // A temporary of a writer that no longer runs (pid 0x7ffffffe is never alive here) is stale.
  fs::path stale = again.path_of(Cid::of(1, kCodecRaw, "x").hash);
  fs::create_directories(stale.parent_path());
  stale += ".tmp-2147483646-1-1";
  { std::ofstream(stale) << "half"; }
  EXPECT_EQ(again.remove_stale_temps(), 1u);
  EXPECT_FALSE(fs::exists(stale));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ia::ipfs
