// `ipfs-accelerate ipfs …` end to end on a private $IPFS_ACCELERATE_HOME: the
// CIDs kubo prints, cat/get, blocks, pins, gc/verify, CAR files, and bad input
// giving exit status 2 with one line on stderr.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"
#include "integration/ipfs_processes.h"
#include "ipfs/dag_pb.h"
#include "ipfs/importer.h"
#include "ipfs/unixfs.h"

namespace ia::test {
namespace {

namespace fs = std::filesystem;

using ipfs::test::kIpfsFixtures;

// Every test gets its own repo through the environment the CLI inherits.
class CliIpfs : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = tmp_.path() + "/home";
    ::setenv("IPFS_ACCELERATE_HOME", home_.c_str(), 1);
  }
  void TearDown() override { ::unsetenv("IPFS_ACCELERATE_HOME"); }

  CliResult ipfs(std::vector<std::string> args, const std::string& in = "") {
    args.insert(args.begin(), "ipfs");
    return run_cli(args, in);
  }
  std::string ok(std::vector<std::string> args, const std::string& in = "") {
    CliResult r = ipfs(std::move(args), in);
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out;
  }
  size_t block_files() {
    size_t n = 0;
    if (!fs::exists(home_ + "/blocks")) return 0;
    for (const auto& e : fs::recursive_directory_iterator(home_ + "/blocks")) n += e.is_regular_file();
    return n;
  }
  std::string file(const std::string& name, const std::string& bytes) {
    std::string p = tmp_.path() + "/" + name;
    fs::create_directories(fs::path(p).parent_path());
    write_file(p, bytes);
    return p;
  }

  TempDir tmp_;
  std::string home_;
};

TEST_F(CliIpfs, AddPrintsKuboCids) {
  std::string f = file("xs1_1000.bin", xorshift_bytes(1, 1000));
  EXPECT_EQ(ok({"add", f}), "added QmVakM4JamqzV1PsZ6JwuqaqX1WpvoJW3dTaiM4TVGePZP xs1_1000.bin\n");
  EXPECT_EQ(ok({"add", "--cid-version", "1", "-q", f}),
            "bafkreie77gthm64hdwo5d4iffbx3uupyc5k7l2teiy7aetpiylek4lg5cq\n");
  std::string big = file("xs1_786449.bin", xorshift_bytes(1, 786449));
  EXPECT_EQ(ok({"add", "-Q", "--raw-leaves=false", big}), "QmZCi7QtkkeY8irc2c9VnR5QkiMkE151DDGWxAJtvJ4dSR\n");
  auto j = nlohmann::json::parse(ok({"add", "--json", "--cid-version", "1", big}));
  EXPECT_EQ(j["Hash"], "bafybeih75bvjdmqn7jt2xxt5v77dzisdgbf7nbfya27evm3gvancdql4ja");
  EXPECT_EQ(j["Size"], "786653");
  EXPECT_EQ(j["Name"], "xs1_786449.bin");
  EXPECT_EQ(ok({"cat", "QmZCi7QtkkeY8irc2c9VnR5QkiMkE151DDGWxAJtvJ4dSR"}), xorshift_bytes(1, 786449));
  EXPECT_NE(ok({"pin", "ls"}).find("QmZCi7QtkkeY8irc2c9VnR5QkiMkE151DDGWxAJtvJ4dSR recursive"), std::string::npos);
}

TEST_F(CliIpfs, OnlyHashStoresNothing) {
  std::string f = file("a.txt", "hello world");
  EXPECT_EQ(ok({"add", "-n", "-q", f}), "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD\n");
  EXPECT_EQ(block_files(), 0u);
  expect_user_error(ipfs({"cat", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"}), "not found");
}

TEST_F(CliIpfs, AddTreeCatGet) {
  std::string d = tmp_.path() + "/model";
  fs::create_directories(d + "/onnx/extra");
  fs::create_directories(d + "/empty_dir");
  auto spec = nlohmann::json::parse(read_file(kIpfsFixtures + "/spec.json"));
  for (const auto& e : spec["trees"][0]["entries"]) {
    if (e.value("dir", false)) continue;
    write_file(d + "/" + e["path"].get<std::string>(),
               e.contains("text") ? e["text"].get<std::string>() : xorshift_bytes(e["seed"], e["size"]));
  }
  write_file(d + "/.hidden", "skipped");
  CliResult r = ipfs({"add", "-r", d});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("added QmUDwsdkjtzmNSzZEzEBQJ8Wa9xiTAv1HMthBkhzCUc1uz model\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("added QmcartZcg1mQqVevukNRzK7qNq9jRKHB6NxBrRV5a5XjUh model/model.safetensors\n"),
            std::string::npos);
  EXPECT_EQ(r.out.find(".hidden"), std::string::npos);
  EXPECT_EQ(ok({"add", "-r", "-Q", "--cid-version", "1", d}),
            "bafybeigraspc5xwvnuhk5nr7n6sbhhl5v74rgi2k2zyhq2iinuay4dme2m\n");
  EXPECT_EQ(ok({"cat", "/ipfs/QmUDwsdkjtzmNSzZEzEBQJ8Wa9xiTAv1HMthBkhzCUc1uz/onnx/extra/notes.txt"}), "nested notes\n");
  std::string out = tmp_.path() + "/out";
  ok({"get", "QmUDwsdkjtzmNSzZEzEBQJ8Wa9xiTAv1HMthBkhzCUc1uz", "-o", out});
  EXPECT_EQ(read_file(out + "/model.safetensors"), xorshift_bytes(2, 2100000));
  EXPECT_TRUE(fs::is_directory(out + "/empty_dir"));
  EXPECT_EQ(fs::file_size(out + "/onnx/extra/empty.bin"), 0u);
  expect_user_error(ipfs({"cat", "QmUDwsdkjtzmNSzZEzEBQJ8Wa9xiTAv1HMthBkhzCUc1uz"}), "is a directory");
  expect_user_error(ipfs({"cat", "QmUDwsdkjtzmNSzZEzEBQJ8Wa9xiTAv1HMthBkhzCUc1uz/nope"}), "no such file");
  expect_user_error(ipfs({"get", "QmUDwsdkjtzmNSzZEzEBQJ8Wa9xiTAv1HMthBkhzCUc1uz", "-o", out}), "already exists");
  expect_user_error(ipfs({"add", d}), "use -r");
}

TEST_F(CliIpfs, CidFormat) {
  const std::string v0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH";
  std::string v1 = ok({"cid", "base32", v0});
  ASSERT_EQ(v1.rfind("bafy", 0), 0u);
  v1.pop_back();
  EXPECT_EQ(ok({"cid", "format", "-v", "0", v1}), v0 + "\n");
  std::string b36 = ok({"cid", "format", "-v", "1", "-b", "base36", v0});
  EXPECT_EQ(b36[0], 'k');
  b36.pop_back();
  EXPECT_EQ(ok({"cid", "format", "-v", "0", b36}), v0 + "\n");
  expect_user_error(ipfs({"cid", "format", "not-a-cid"}), "invalid CID");
  expect_user_error(ipfs({"cid", "format", "-v", "0", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}),
                    "cannot be a CIDv0");
  expect_user_error(ipfs({"cid", "format", "-b", "base99", v0}), "unknown multibase");
  expect_user_error(ipfs({"cid", "format", "--codec", "cbor2", v0}), "unknown codec");
}

TEST_F(CliIpfs, BlockPutGetStatRm) {
  std::string cid = ok({"block", "put"}, "hello world");
  EXPECT_EQ(cid, "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e\n");
  cid.pop_back();
  EXPECT_EQ(ok({"block", "get", cid}), "hello world");
  auto j = nlohmann::json::parse(ok({"block", "stat", "--json", cid}));
  EXPECT_EQ(j["Size"], 11);
  ok({"block", "rm", cid});
  expect_user_error(ipfs({"block", "get", cid}), "not found");
  expect_user_error(ipfs({"block", "put", "--format", "dag-pb"}, "\x0a\x05"), "dag-pb");
}

TEST_F(CliIpfs, PinGcVerify) {
  std::string a = file("a.bin", xorshift_bytes(7, 600000)), b = file("b.bin", xorshift_bytes(8, 600000));
  std::string ca = ok({"add", "-Q", a}), cb = ok({"add", "-Q", "--no-pin", b});
  ca.pop_back(), cb.pop_back();
  auto gc = nlohmann::json::parse(ok({"repo", "gc", "--json"}));
  EXPECT_EQ(gc["Removed"], 4);  // b's root and three leaves
  expect_user_error(ipfs({"cat", cb}), "not found");
  EXPECT_EQ(ok({"cat", ca}), xorshift_bytes(7, 600000));
  EXPECT_EQ(ok({"repo", "verify"}), "verified 4 blocks, 0 corrupt\n");
  // Corrupt one stored block by hand.
  for (const auto& e : fs::recursive_directory_iterator(home_ + "/blocks")) {
    if (!e.is_regular_file() || fs::file_size(e.path()) < 1000) continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('!');
    break;
  }
  expect_user_error(ipfs({"cat", ca}), "does not match its hash");
  CliResult v = ipfs({"repo", "verify", "--json"});
  EXPECT_EQ(v.status, 2);
  EXPECT_EQ(nlohmann::json::parse(v.out)["Corrupt"].size(), 1u);
  EXPECT_EQ(ok({"repo", "verify"}), "verified 3 blocks, 0 corrupt\n");
  ok({"pin", "rm", ca});
  EXPECT_EQ(ok({"pin", "ls"}), "");
  expect_user_error(ipfs({"pin", "rm", ca}), "not pinned");
}

TEST_F(CliIpfs, CarExportImport) {
  std::string f = file("xs1_786449.bin", xorshift_bytes(1, 786449));
  std::string root = ok({"add", "-Q", "--cid-version", "1", f});
  root.pop_back();
  std::string car = tmp_.path() + "/out.car";
  ok({"car", "export", root, "-o", car});
  EXPECT_TRUE(read_file(car) == read_file(kIpfsFixtures + "/car/xs1_786449.kubo-cidv1.car"));
  // Import into a fresh repo.
  std::string home2 = tmp_.path() + "/home2";
  ::setenv("IPFS_ACCELERATE_HOME", home2.c_str(), 1);
  auto j = nlohmann::json::parse(ok({"car", "import", "--json", kIpfsFixtures + "/car/xs1_786449.kubo-cidv1.car"}));
  EXPECT_EQ(j["Roots"][0], root);
  EXPECT_EQ(j["Blocks"], 5);
  EXPECT_EQ(ok({"cat", root}), xorshift_bytes(1, 786449));
  // A truncated CAR and a CAR with one flipped byte: refused, nothing stored.
  std::string home3 = tmp_.path() + "/home3";
  ::setenv("IPFS_ACCELERATE_HOME", home3.c_str(), 1);
  home_ = home3;
  std::string good = read_file(car);
  std::string trunc = file("trunc.car", good.substr(0, good.size() - 10));
  expect_user_error(ipfs({"car", "import", trunc}), "truncated");
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x40;
  std::string bad = file("bad.car", flipped);
  expect_user_error(ipfs({"car", "import", bad}), "does not match its hash");
  EXPECT_EQ(block_files(), 0u);
  expect_user_error(ipfs({"car", "export", root, "-o", tmp_.path() + "/x.car"}), "not found");
  EXPECT_FALSE(fs::exists(tmp_.path() + "/x.car"));
  EXPECT_FALSE(fs::exists(tmp_.path() + "/x.car.ia-partial"));
}

TEST_F(CliIpfs, HostileDirectoryEntryIsRefused) {
  // A directory whose entry is named "../x", put as a raw dag-pb block.
  std::string leaf = ok({"add", "-Q", file("evil", "evil")});
  leaf.pop_back();
  ipfs::PbNode node;
  ipfs::UnixfsData d;
  d.type = ipfs::UnixfsType::Directory;
  node.links.push_back(ipfs::PbLink{ipfs::Cid::parse(leaf), "../x", 12});
  node.data = ipfs::encode_unixfs(d);
  std::string dir = ok({"block", "put", "--format", "dag-pb"}, ipfs::encode_pb_node(node));
  dir.pop_back();
  std::string out = tmp_.path() + "/target/inner";
  fs::create_directories(tmp_.path() + "/target");
  expect_user_error(ipfs({"get", dir, "-o", out}), "unsafe directory entry name");
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(tmp_.path() + "/target/x"));
  EXPECT_TRUE(fs::is_empty(tmp_.path() + "/target"));
}

// A failure of the machine's files inside a subcommand (here renaming the finished
// CAR onto a folder that is in the way) is not a bug: one line, status 2, and the
// temporary file is removed.
TEST_F(CliIpfs, FilesystemErrorIsOneLine) {
  std::string root = ok({"add", "-Q", file("f", "some bytes")});
  root.pop_back();
  std::string in_the_way = tmp_.path() + "/in-the-way";
  file("in-the-way/keep", "x");
  expect_user_error(ipfs({"car", "export", root, "-o", in_the_way}), "cannot rename");
  EXPECT_EQ(read_file(in_the_way + "/keep"), "x");
  EXPECT_FALSE(fs::exists(in_the_way + ".ia-partial")) << "the temporary CAR was left behind";
}

TEST_F(CliIpfs, BadInputIsOneLine) {
  expect_user_error(ipfs({"cat", "QmNotACid"}), "invalid CID");
  expect_user_error(ipfs({"cat", "bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}), "not found");
  expect_user_error(ipfs({"add", tmp_.path() + "/missing"}), "no such file");
  expect_user_error(ipfs({"add", "--chunker", "rabin-1-2-3", file("f", "x")}), "chunker");
  expect_user_error(ipfs({"add", "--cid-version", "2", file("f", "x")}), "cid-version");
  expect_user_error(ipfs({"car", "import", tmp_.path() + "/missing.car"}), "cannot open");
}

}  // namespace
}  // namespace ia::test
