// Our gateway client and server against each other and against the reference
// peer (../shared/tools/ipfs-ref-gateway, Node), all on 127.0.0.1. The
// reference tests skip, saying why, when node/npm or ../shared is missing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"
#include "integration/ipfs_processes.h"
#include "ipfs/multihash.h"

namespace ia::test {
namespace {

namespace fs = std::filesystem;

class IpfsInterop : public ::testing::Test {
 protected:
  std::string home(const std::string& name) { return tmp_.path() + "/" + name; }
  CliResult cli(const std::string& home_dir, std::vector<std::string> args) {
    ::setenv("IPFS_ACCELERATE_HOME", home_dir.c_str(), 1);
    args.insert(args.begin(), "ipfs");
    CliResult r = run_cli(args);
    ::unsetenv("IPFS_ACCELERATE_HOME");
    return r;
  }
  // Starts `ipfs serve` on a free port over `home_dir`; returns the URL.
  std::string serve(const std::string& home_dir, std::unique_ptr<Process>& proc) {
    std::string url = start_our_gateway(home_dir, tmp_.path() + "/serve-" + std::to_string(++serial_) + ".log", proc);
    EXPECT_FALSE(url.empty());
    return url;
  }
  TempDir tmp_;
  int serial_ = 0;
};

TEST_F(IpfsInterop, OurClientFetchesFromOurServerAndResumes) {
  std::string a = home("a"), b = home("b");
  std::string f = tmp_.path() + "/big.bin";
  write_file(f, xorshift_bytes(9, 3'000'000));
  CliResult add = cli(a, {"add", "-Q", f});
  ASSERT_EQ(add.status, 0) << add.err;
  std::string cid = add.out.substr(0, add.out.size() - 1);
  std::unique_ptr<Process> server;
  std::string url = serve(a, server);
  ASSERT_FALSE(url.empty());
  CliResult fetch = cli(b, {"fetch", "--json", "--gateway", url, cid});
  ASSERT_EQ(fetch.status, 0) << fetch.err;
  auto j = nlohmann::json::parse(fetch.out);
  EXPECT_EQ(j["Blocks"], 13);
  EXPECT_EQ(cli(b, {"cat", cid}).out, xorshift_bytes(9, 3'000'000));
  // Block by block, after removing some: only the missing ones come back.
  CliResult stat = cli(b, {"block", "rm", cid});
  ASSERT_EQ(stat.status, 0);
  CliResult again = cli(b, {"fetch", "--json", "--no-car", "--gateway", url, cid});
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["Fetched"], 1);
  EXPECT_EQ(cli(b, {"repo", "verify"}).status, 0);
  // A gateway that is not there: a clear error.
  CliResult bad = cli(home("c"), {"fetch", "--gateway", "http://127.0.0.1:1", cid});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("could not fetch"), std::string::npos) << bad.err;
}

// The reference peer, installed once per test run into a temporary folder.
class RefPeer : public IpfsInterop {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() + "/refgw";
    if (std::string why = install_reference_peer(dir_); !why.empty()) GTEST_SKIP() << why;
    repo_ = tmp_.path() + "/gwrepo";
  }
  std::string node(const std::string& args) {
    auto [st, out] = sh("cd '" + dir_ + "' && node gateway.mjs " + args + " 2>&1");
    EXPECT_EQ(st, 0) << out;
    return out;
  }
  std::string dir_, repo_;
};

TEST_F(RefPeer, OurClientFetchesWhatTheReferenceAdded) {
  std::string f = tmp_.path() + "/file.bin";
  write_file(f, xorshift_bytes(1, 786449));
  fs::create_directories(tmp_.path() + "/tree/sub");
  write_file(tmp_.path() + "/tree/a.txt", "alpha\n");
  write_file(tmp_.path() + "/tree/sub/b.bin", xorshift_bytes(3, 300000));
  std::string out_file = node("add --repo '" + repo_ + "' '" + f + "'");
  std::string out_dir = node("add --repo '" + repo_ + "' --cid-version 1 -r '" + tmp_.path() + "/tree'");
  auto last_cid = [](const std::string& out) {
    size_t at = out.rfind("added ");
    return out.substr(at + 6, out.find(' ', at + 6) - at - 6);
  };
  std::string file_cid = last_cid(out_file), dir_cid = last_cid(out_dir);
  EXPECT_EQ(file_cid, "QmZCi7QtkkeY8irc2c9VnR5QkiMkE151DDGWxAJtvJ4dSR");
  int port = free_port();
  Process gw({"node", "gateway.mjs", "serve", "--repo", repo_, "--host", "127.0.0.1", "--port", std::to_string(port)},
             tmp_.path() + "/refgw.log", dir_);
  ASSERT_NE(wait_for(tmp_.path() + "/refgw.log", "listening").find("listening"), std::string::npos);
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  std::string h = home("ours");
  for (const auto& mode : std::vector<std::string>{"", "--no-car"}) {
    std::vector<std::string> args{"fetch", "--gateway", url, file_cid};
    if (!mode.empty()) args.insert(args.begin() + 1, mode);
    CliResult r = cli(h + mode, args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(cli(h + mode, {"cat", file_cid}).out, xorshift_bytes(1, 786449));
    r = cli(h + mode, {"fetch", "--gateway", url, dir_cid});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(cli(h + mode, {"cat", dir_cid + "/sub/b.bin"}).out, xorshift_bytes(3, 300000));
    // Our importer agrees with the reference on the directory's CID.
    EXPECT_EQ(cli(h + mode, {"add", "-r", "-n", "-Q", "--cid-version", "1", tmp_.path() + "/tree"}).out,
              dir_cid + "\n");
  }
}

TEST_F(RefPeer, ReferenceClientFetchesFromOurServer) {
  std::string h = home("ours");
  fs::create_directories(tmp_.path() + "/tree/sub");
  write_file(tmp_.path() + "/tree/a.txt", "alpha\n");
  write_file(tmp_.path() + "/tree/sub/b.bin", xorshift_bytes(3, 700000));
  CliResult add = cli(h, {"add", "-r", "-Q", tmp_.path() + "/tree"});
  ASSERT_EQ(add.status, 0) << add.err;
  std::string cid = add.out.substr(0, add.out.size() - 1);
  std::unique_ptr<Process> server;
  std::string url = serve(h, server);
  ASSERT_FALSE(url.empty());
  // CAR mode through a path, then both modes on the directory itself.
  std::string out = node("fetch --gateway " + url + " --mode car " + cid + "/sub/b.bin");
  auto j = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(j["sha256"], ipfs::to_hex(ipfs::sha256(xorshift_bytes(3, 700000)))) << out;
  EXPECT_EQ(j["size"], 700000) << out;
  for (const std::string mode : {"car", "raw"}) {
    out = node("fetch --gateway " + url + " --mode " + mode + " " + cid);
    ASSERT_NE(out.find('{'), std::string::npos) << out;
    j = nlohmann::json::parse(out.substr(out.find('{')));
    EXPECT_EQ(j["type"], "directory") << out;
    EXPECT_EQ(j["verified_blocks"], 7) << out;  // root, a.txt, sub, b.bin: its root + 3 leaves
  }
}

}  // namespace
}  // namespace ia::test
