// The exporter against crafted DAGs: files and folders that repeat one child
// without end, sizes that lie, symlinks placed to be written through, a root
// that is a symlink. Each is refused (or exported exactly as the DAG says)
// with bounded time and output, and nothing appears outside the target.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <streambuf>

#include "core/error.h"
#include "ipfs/dag_pb.h"
#include "ipfs/exporter.h"
#include "ipfs/importer.h"
#include "ipfs/unixfs.h"
#include "unit/ipfs/fixtures.h"

namespace ia::ipfs {
namespace {

namespace fs = std::filesystem;

class ExporterHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "ia-export-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Every path under dir_, so a test can check nothing else appeared.
  std::vector<std::string> listing() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_)) out.push_back(fs::relative(e.path(), dir_).string());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path dir_;
};

Cid put_node(MemoryBlockstore& store, const PbNode& node) {
  Bytes block = encode_pb_node(node);
  Cid cid = Cid::of(1, kCodecDagPb, block);
  store.put(cid, block);
  return cid;
}

// A UnixFS file node linking `children` with the given blocksizes and filesize.
Cid file_node(MemoryBlockstore& store, const std::vector<Cid>& children, std::vector<uint64_t> blocksizes,
              std::optional<uint64_t> filesize) {
  PbNode n;
  for (const auto& c : children) n.links.push_back(PbLink{c, std::string(), 1});
  UnixfsData d;
  d.type = UnixfsType::File;
  d.filesize = filesize;
  d.blocksizes = std::move(blocksizes);
  n.data = encode_unixfs(d);
  return put_node(store, n);
}

Cid dir_node(MemoryBlockstore& store, const std::vector<std::pair<std::string, Cid>>& entries) {
  PbNode n;
  for (const auto& [name, c] : entries) n.links.push_back(PbLink{c, name, 1});
  UnixfsData d;
  d.type = UnixfsType::Directory;
  n.data = encode_unixfs(d);
  return put_node(store, n);
}

Cid symlink_node(MemoryBlockstore& store, const std::string& target) {
  PbNode n;
  UnixfsData d;
  d.type = UnixfsType::Symlink;
  d.data = target;
  n.data = encode_unixfs(d);
  return put_node(store, n);
}

// An output that accepts at most `cap` bytes, then fails like a full disk:
// a runaway exporter ends with a write error instead of running forever.
class CappedBuf : public std::streambuf {
 public:
  explicit CappedBuf(uint64_t cap) : cap_(cap) {}
  uint64_t written = 0;

 protected:
  std::streamsize xsputn(const char*, std::streamsize n) override {
    if (written + static_cast<uint64_t>(n) > cap_) return 0;
    written += static_cast<uint64_t>(n);
    return n;
  }
  int_type overflow(int_type c) override { return xsputn(nullptr, 1) == 1 ? c : traits_type::eof(); }

 private:
  uint64_t cap_;
};

// One 1 KiB leaf linked 174 times per level, `levels` deep, with honest sizes:
// 7 blocks that declare 1024 * 174^levels bytes.
Cid repeated_leaf_bomb(MemoryBlockstore& store, int levels) {
  Bytes leaf(1024, 'x');
  Cid cur = Cid::of(1, kCodecRaw, leaf);
  store.put(cur, leaf);
  uint64_t size = leaf.size();
  for (int i = 0; i < levels; ++i) {
    cur = file_node(store, std::vector<Cid>(174, cur), std::vector<uint64_t>(174, size), size * 174);
    size *= 174;
  }
  return cur;
}

TEST_F(ExporterHostile, RepeatedLeafBombIsRefusedBeforeAnyOutput) {
  MemoryBlockstore store;
  Cid bomb = repeated_leaf_bomb(store, 6);
  EXPECT_EQ(store.size(), 7u);
  CappedBuf buf(64 << 20);
  std::ostream out(&buf);
  try {
    cat_file(store, bomb, out);
    ADD_FAILURE() << "cat of the bomb succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(ExportLimits::kDefaultMaxBytes)), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(buf.written, 0u);
  try {
    export_to_path(store, bomb, dir_ / "out");
    ADD_FAILURE() << "get of the bomb succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
  }
  EXPECT_TRUE(listing().empty());
}

TEST_F(ExporterHostile, SizesThatLieAreCorruptAndNeverOverrunTheDeclaredSize) {
  MemoryBlockstore store;
  Cid bomb = repeated_leaf_bomb(store, 5);
  // A root that claims 2 KiB but links the bomb twice (its blocksizes say 1 KiB each).
  Cid liar = file_node(store, {bomb, bomb}, {1024, 1024}, 2048);
  CappedBuf buf(64 << 20);
  std::ostream out(&buf);
  try {
    cat_file(store, liar, out);
    ADD_FAILURE() << "cat of a lying file succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
  }
  EXPECT_LE(buf.written, 2048u);
  // filesize that disagrees with blocksizes, and a child declared empty.
  Bytes leaf(1024, 'y');
  Cid leaf_cid = Cid::of(1, kCodecRaw, leaf);
  store.put(leaf_cid, leaf);
  for (Cid bad : {file_node(store, std::vector<Cid>(174, leaf_cid), std::vector<uint64_t>(174, 1024), 1024),
                  file_node(store, {leaf_cid, leaf_cid}, {1024, 0}, 1024), file_node(store, {leaf_cid}, {}, 1024)}) {
    std::ostringstream o;
    EXPECT_THROW(cat_file(store, bad, o), Error);
    EXPECT_TRUE(o.str().empty());
    EXPECT_THROW(export_to_path(store, bad, dir_ / "out"), Error);
  }
  EXPECT_TRUE(listing().empty());
}

TEST_F(ExporterHostile, OutputLimitNamesTheLimit) {
  MemoryBlockstore store;
  BuiltNode f = import_bytes(test::xorshift_bytes(9, 600000), store, ImportOptions{});
  ExportLimits small;
  small.max_bytes = 100000;
  std::ostringstream o;
  try {
    cat_file(store, f.cid, o, small);
    ADD_FAILURE() << "cat over the limit succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("100000"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(o.str().empty());
  EXPECT_THROW(export_to_path(store, f.cid, dir_ / "out", small), Error);
  EXPECT_TRUE(listing().empty());
  EXPECT_EQ(cat_file(store, f.cid, o), 600000u);  // the default limit lets it through
  EXPECT_EQ(o.str(), test::xorshift_bytes(9, 600000));
}

TEST_F(ExporterHostile, FolderRepeatingOneSubfolderIsBounded) {
  // 100 names for one subfolder per level, 6 levels: 10^12 entries from 7 blocks.
  MemoryBlockstore store;
  BuiltNode x = import_bytes("x", store, ImportOptions{});
  Cid cur = x.cid;
  for (int level = 0; level < 6; ++level) {
    std::vector<std::pair<std::string, Cid>> entries;
    for (int i = 0; i < 100; ++i) entries.emplace_back(fmt::format("e{:03}", i), cur);
    cur = dir_node(store, entries);
  }
  auto t0 = std::chrono::steady_clock::now();
  try {
    export_to_path(store, cur, dir_ / "out");
    ADD_FAILURE() << "exported 10^12 entries";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(ExportLimits::kDefaultMaxEntries)), std::string::npos);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_TRUE(listing().empty());
  // Two levels (20^2 + 20 + 1 entries) are exported, every name a file or folder.
  Cid two = dir_node(store, {{"a", x.cid}});
  for (int level = 0; level < 2; ++level) {
    std::vector<std::pair<std::string, Cid>> entries;
    for (int i = 0; i < 20; ++i) entries.emplace_back(fmt::format("e{:03}", i), level == 0 ? x.cid : two);
    two = dir_node(store, entries);
  }
  ExportLimits tight;
  tight.max_entries = 400;
  EXPECT_THROW(export_to_path(store, two, dir_ / "tight", tight), Error);
  export_to_path(store, two, dir_ / "ok");
  EXPECT_EQ(test::read_all((dir_ / "ok/e007/e019").string()), "x");
}

TEST_F(ExporterHostile, SymlinkBesideAFileIsNeverWrittenThrough) {
  MemoryBlockstore store;
  BuiltNode payload = import_bytes("payload", store, ImportOptions{});
  // The link comes first in the listing, so it exists before the file is written.
  Cid dir = dir_node(store, {{"f.ia-partial", symlink_node(store, "g")}, {"f", payload.cid}});
  export_to_path(store, dir, dir_ / "out");
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dir_ / "out/f")));
  EXPECT_EQ(test::read_all((dir_ / "out/f").string()), "payload");
  EXPECT_TRUE(fs::is_symlink(dir_ / "out/f.ia-partial"));
  EXPECT_EQ(fs::read_symlink(dir_ / "out/f.ia-partial"), "g");
  EXPECT_EQ(listing(), (std::vector<std::string>{"out", "out/f", "out/f.ia-partial"}));

  // A name given twice (a symlink, then a file or folder under the same name) is corrupt.
  for (Cid second : {payload.cid, dir_node(store, {{"inner", payload.cid}})}) {
    Cid twice = dir_node(store, {{"f", symlink_node(store, "g")}, {"f", second}});
    try {
      export_to_path(store, twice, dir_ / "twice");
      ADD_FAILURE() << "exported a name twice";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
    }
  }
  EXPECT_EQ(listing(), (std::vector<std::string>{"out", "out/f", "out/f.ia-partial"}));
}

TEST_F(ExporterHostile, RootSymlinkAndEscapingTargetsAreRefused) {
  MemoryBlockstore store;
  Cid root_link = symlink_node(store, "out-sibling");
  try {
    export_to_path(store, root_link, dir_ / "out");
    ADD_FAILURE() << "exported a root symlink";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
  }
  for (std::string target : {"../up", "/etc/passwd", "a/../../b"}) {
    Cid dir = dir_node(store, {{"l", symlink_node(store, target)}});
    EXPECT_THROW(export_to_path(store, dir, dir_ / "out"), Error) << target;
  }
  EXPECT_TRUE(listing().empty());
}

}  // namespace
}  // namespace ia::ipfs
