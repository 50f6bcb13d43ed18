// The IPFS CLI against hostile or failing input: crafted DAGs imported as
// CARs (built here with the project's own dag-pb and CAR writer), a gc racing
// adds, `block put` of an endless input, credentials in gateway URLs, and an
// add that fails half-way. Failures are exit 2, one stderr line, no stdout;
// nothing appears outside the target folder.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "integration/cli_runner.h"
#include "integration/ipfs_processes.h"
#include "ipfs/car.h"
#include "ipfs/dag_pb.h"
#include "ipfs/importer.h"
#include "ipfs/unixfs.h"

namespace ia::test {
namespace {

namespace fs = std::filesystem;
using namespace ia::ipfs;

class CliIpfsHardening : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = tmp_.path() + "/home";
    out_dir_ = tmp_.path() + "/out";
    fs::create_directories(out_dir_);
    ::setenv("IPFS_ACCELERATE_HOME", home_.c_str(), 1);
  }
  void TearDown() override { ::unsetenv("IPFS_ACCELERATE_HOME"); }
  CliResult ipfs(std::vector<std::string> args, const std::string& in = "") {
    args.insert(args.begin(), "ipfs");
    return run_cli(args, in);
  }
  // Writes `store`'s DAG under `root` as a CAR and imports it (not pinned).
  void import_dag(MemoryBlockstore& store, const Cid& root) {
    std::string car = tmp_.path() + "/in.car";
    {
      std::ofstream f(car, std::ios::binary);
      write_car(store, root, f);
    }
    CliResult r = ipfs({"car", "import", "--no-pin", car});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  std::vector<std::string> out_listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(out_dir_))
      names.push_back(fs::relative(e.path(), out_dir_).string());
    std::sort(names.begin(), names.end());
    return names;
  }
  TempDir tmp_;
  std::string home_, out_dir_;
};

Cid put_node(MemoryBlockstore& store, const PbNode& node) {
  Bytes block = encode_pb_node(node);
  Cid cid = Cid::of(1, kCodecDagPb, block);
  store.put(cid, block);
  return cid;
}

Cid unixfs_node(MemoryBlockstore& store, UnixfsData d, const std::vector<std::pair<std::string, Cid>>& links) {
  PbNode n;
  for (const auto& [name, c] : links) n.links.push_back(PbLink{c, name, 1});
  n.data = encode_unixfs(d);
  return put_node(store, n);
}

Cid symlink(MemoryBlockstore& store, const std::string& target) {
  UnixfsData d;
  d.type = UnixfsType::Symlink;
  d.data = target;
  return unixfs_node(store, d, {});
}

TEST_F(CliIpfsHardening, GetNeverWritesThroughASymlinkBesideAFile) {
  MemoryBlockstore store;
  BuiltNode payload = import_bytes("payload", store, ImportOptions{});
  UnixfsData dir;
  dir.type = UnixfsType::Directory;
  Cid root = unixfs_node(store, dir, {{"f.ia-partial", symlink(store, "g")}, {"f", payload.cid}});
  import_dag(store, root);
  std::string out = out_dir_ + "/tree";
  CliResult r = ipfs({"get", root.to_string(), "-o", out});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(out + "/f")));
  EXPECT_EQ(read_file(out + "/f"), "payload");
  EXPECT_EQ(fs::read_symlink(out + "/f.ia-partial"), "g");
  EXPECT_EQ(out_listing(), (std::vector<std::string>{"tree", "tree/f", "tree/f.ia-partial"}));
}

TEST_F(CliIpfsHardening, GetOfARootSymlinkIsRefused) {
  MemoryBlockstore store;
  Cid root = symlink(store, "next-to-out");
  import_dag(store, root);
  expect_user_error(ipfs({"get", root.to_string(), "-o", out_dir_ + "/link"}), "symlink");
  EXPECT_TRUE(out_listing().empty());
}

TEST_F(CliIpfsHardening, RepeatedLeafBombIsRefusedByCatAndGet) {
  // 7 blocks: a 1 KiB leaf linked 174 times per level, 6 levels (1024 * 174^6 bytes declared).
  MemoryBlockstore store;
  Bytes leaf(1024, 'x');
  Cid cur = Cid::of(1, kCodecRaw, leaf);
  store.put(cur, leaf);
  uint64_t size = leaf.size();
  for (int level = 0; level < 6; ++level) {
    UnixfsData d;
    d.type = UnixfsType::File;
    d.blocksizes.assign(174, size);
    size *= 174;
    d.filesize = size;
    cur = unixfs_node(store, d, std::vector<std::pair<std::string, Cid>>(174, {"", cur}));
  }
  import_dag(store, cur);
  auto t0 = std::chrono::steady_clock::now();
  expect_user_error(ipfs({"cat", cur.to_string()}), "output limit");
  expect_user_error(ipfs({"get", cur.to_string(), "-o", out_dir_ + "/bomb"}), "output limit");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  EXPECT_TRUE(out_listing().empty());
}

TEST_F(CliIpfsHardening, OutputLimitIsNamedAndCanBeRaised) {
  std::string f = tmp_.path() + "/f.bin";
  write_file(f, xorshift_bytes(7, 600000));
  CliResult add = ipfs({"add", "-Q", f});
  ASSERT_EQ(add.status, 0) << add.err;
  std::string cid = add.out.substr(0, add.out.find('\n'));
  expect_user_error(ipfs({"cat", "--max-size", "1000", cid}), "1000");
  ::setenv("IPFS_ACCELERATE_MAX_OUTPUT", "2000", 1);
  CliResult env_limited = ipfs({"cat", cid});
  ::unsetenv("IPFS_ACCELERATE_MAX_OUTPUT");
  expect_user_error(env_limited, "2000");
  expect_user_error(ipfs({"get", "--max-size", "1000", cid, "-o", out_dir_ + "/f"}), "1000");
  EXPECT_TRUE(out_listing().empty());
  CliResult raised = ipfs({"cat", "--max-size", "600000", cid});
  EXPECT_EQ(raised.status, 0) << raised.err;
  EXPECT_EQ(raised.out, xorshift_bytes(7, 600000));
}

TEST_F(CliIpfsHardening, CatWithABlockMissingMidwayPrintsNothing) {
  // Three raw leaves under one node; the last leaf is removed from the repo after import.
  MemoryBlockstore store;
  std::vector<std::pair<std::string, Cid>> links;
  UnixfsData d;
  d.type = UnixfsType::File;
  for (int i = 0; i < 3; ++i) {
    Bytes leaf = xorshift_bytes(static_cast<uint64_t>(20 + i), 4096);
    Cid c = Cid::of(1, kCodecRaw, leaf);
    store.put(c, leaf);
    links.push_back({"", c});
    d.blocksizes.push_back(leaf.size());
  }
  d.filesize = 3 * 4096;
  Cid root = unixfs_node(store, d, links);
  import_dag(store, root);
  CliResult whole = ipfs({"cat", root.to_string()});
  ASSERT_EQ(whole.status, 0) << whole.err;
  ASSERT_EQ(whole.out.size(), 3u * 4096);
  CliResult rm = ipfs({"block", "rm", links[2].second.to_string()});
  ASSERT_EQ(rm.status, 0) << rm.err;
  CliResult r = ipfs({"cat", root.to_string()});
  expect_user_error(r, links[2].second.to_string());
  EXPECT_TRUE(r.out.empty()) << r.out.size() << " bytes on stdout";
}

TEST_F(CliIpfsHardening, AddThatFailsPrintsNothingOnStdout) {
  std::string good = tmp_.path() + "/good.txt";
  write_file(good, "fine");
  expect_user_error(ipfs({"add", good, tmp_.path() + "/missing.txt"}), "missing.txt");
  // A folder whose last entry cannot be added (a FIFO), after files that can.
  fs::create_directories(tmp_.path() + "/dir");
  write_file(tmp_.path() + "/dir/a.txt", "alpha");
  ASSERT_EQ(::mkfifo((tmp_.path() + "/dir/z.fifo").c_str(), 0644), 0);
  expect_user_error(ipfs({"add", "-r", tmp_.path() + "/dir"}), "z.fifo");
}

TEST_F(CliIpfsHardening, BlockPutReadsNoFurtherThanTheBlockLimit) {
  auto t0 = std::chrono::steady_clock::now();
  expect_user_error(ipfs({"block", "put", "/dev/zero"}), "block size limit");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  CliResult ok = ipfs({"block", "put", "-"}, std::string(2u << 20, 'b'));  // exactly the limit
  EXPECT_EQ(ok.status, 0) << ok.err;
}

TEST_F(CliIpfsHardening, GatewayCredentialsAreNeverPrinted) {
  std::string url = "http://user:s3cret@127.0.0.1:" + std::to_string(free_port());
  CliResult r = ipfs({"fetch", "bafkreie77gthm64hdwo5d4iffbx3uupyc5k7l2teiy7aetpiylek4lg5cq", "--gateway", url});
  expect_user_error(r, "***@127.0.0.1");
  EXPECT_EQ(r.err.find("s3cret"), std::string::npos) << r.err;
}

TEST_F(CliIpfsHardening, GcRacingAddsNeverLeavesAnIncompletePin) {
  std::string src = tmp_.path() + "/src";
  fs::create_directories(src + "/sub");
  for (int i = 0; i < 3; ++i) write_file(src + "/sub/f" + std::to_string(i), xorshift_bytes(60 + i, 500000));
  std::atomic<bool> stop{false};
  std::atomic<int> gcs{0};
  std::thread gc([&] {
    while (!stop) {
      CliResult r = ipfs({"repo", "gc"});
      EXPECT_EQ(r.status, 0) << r.err;
      ++gcs;
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  int rounds = 0;
  for (; rounds < 8 && std::chrono::steady_clock::now() < deadline; ++rounds) {
    CliResult add = ipfs({"add", "-r", "-Q", src});
    ASSERT_EQ(add.status, 0) << add.err;
    std::string root = add.out.substr(0, add.out.find('\n'));
    // Pinned and complete: a CAR of it can be written from the store.
    CliResult exp = ipfs({"car", "export", root, "-o", tmp_.path() + "/x.car"});
    EXPECT_EQ(exp.status, 0) << "round " << rounds << ": " << exp.err;
    if (rounds + 1 < 8) {
      EXPECT_EQ(ipfs({"pin", "rm", root}).status, 0);  // collectable again
    }
  }
  stop = true;
  gc.join();
  EXPECT_GT(gcs.load(), 0);
  CliResult verify = ipfs({"repo", "verify"});
  EXPECT_EQ(verify.status, 0) << verify.out << verify.err;
}

}  // namespace
}  // namespace ia::test
