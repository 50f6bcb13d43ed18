// A fetch killed with SIGKILL half-way resumes: the CLI fetches from a slow
// gateway (our server in this process, slowed per block), is killed once part
// of the DAG is committed, and a second run fetches only what is missing.
// Nothing corrupt is left: `repo verify` is clean, `repo gc` removes the
// killed writer's temporaries.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"
#include "integration/ipfs_processes.h"
#include "ipfs/gateway_server.h"
#include "ipfs/repo.h"

namespace ia::test {
namespace {

namespace fs = std::filesystem;

// Serves a blockstore, taking `delay` per block read.
class SlowStore : public ipfs::Blockstore {
 public:
  SlowStore(ipfs::Blockstore& inner, std::chrono::milliseconds delay) : inner_(inner), delay_(delay) {}
  void put(const ipfs::Cid& c, ipfs::BytesView b) override { inner_.put(c, b); }
  bool has(const ipfs::Multihash& mh) override { return inner_.has(mh); }
  std::optional<ipfs::Bytes> get(const ipfs::Multihash& mh) override {
    std::this_thread::sleep_for(delay_);
    return inner_.get(mh);
  }
  bool remove(const ipfs::Multihash& mh) override { return inner_.remove(mh); }
  void for_each(const std::function<void(const ipfs::Multihash&)>& fn) override { inner_.for_each(fn); }

 private:
  ipfs::Blockstore& inner_;
  std::chrono::milliseconds delay_;
};

size_t committed_blocks(const fs::path& blocks) {
  size_t n = 0;
  std::error_code ec;
  if (!fs::exists(blocks, ec)) return 0;
  for (const auto& e : fs::recursive_directory_iterator(blocks, ec)) {
    if (e.path().extension() == ".data") ++n;
  }
  return n;
}

CliResult cli(const std::string& home, std::vector<std::string> args) {
  ::setenv("IPFS_ACCELERATE_HOME", home.c_str(), 1);
  args.insert(args.begin(), "ipfs");
  CliResult r = run_cli(args);
  ::unsetenv("IPFS_ACCELERATE_HOME");
  return r;
}

TEST(IpfsResume, FetchKilledHalfWayResumesAndLeavesNothingCorrupt) {
  TempDir tmp;
  std::string src = tmp.path() + "/src", dst = tmp.path() + "/dst", file = tmp.path() + "/f.bin";
  const std::string data = xorshift_bytes(21, 4'000'000);
  write_file(file, data);
  // 64 KiB chunks: 62 leaves + the root, so the kill lands between many blocks.
  CliResult add = cli(src, {"add", "-Q", "--chunker", "size-65536", file});
  ASSERT_EQ(add.status, 0) << add.err;
  std::string cid = add.out.substr(0, add.out.size() - 1);

  ipfs::Repo served(src);
  SlowStore slow(served.blocks(), std::chrono::milliseconds(40));
  ipfs::GatewayServer server(slow);
  int port = server.bind("127.0.0.1", 0);
  std::thread t([&] { server.run(); });
  std::string url = "http://127.0.0.1:" + std::to_string(port);

  {
    Process fetch({IA_CLI_PATH, "ipfs", "fetch", "--gateway", url, cid}, tmp.path() + "/fetch1.log", "",
                  {{"IPFS_ACCELERATE_HOME", dst}});
    // Kill once a first batch is committed (the store commits about every second).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (committed_blocks(fs::path(dst) / "blocks") < 5 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    fetch.kill(SIGKILL);
  }
  size_t before = committed_blocks(fs::path(dst) / "blocks");
  EXPECT_GE(before, 5u);
  EXPECT_LT(before, 63u) << "the fetch finished before it was killed";
  EXPECT_EQ(cli(dst, {"repo", "verify"}).status, 0);

  CliResult again = cli(dst, {"fetch", "--json", "--gateway", url, cid});
  ASSERT_EQ(again.status, 0) << again.err;
  auto j = nlohmann::json::parse(again.out);
  EXPECT_EQ(j["Blocks"], 63);
  EXPECT_EQ(j["Fetched"].get<size_t>(), 63 - before);  // only what was missing came over the wire
  EXPECT_EQ(cli(dst, {"cat", cid}).out, data);
  CliResult verify = cli(dst, {"repo", "verify", "--json"});
  EXPECT_EQ(verify.status, 0) << verify.out;
  EXPECT_EQ(nlohmann::json::parse(verify.out)["Checked"], 63);
  // The killed run's temporaries are gone after gc; the pinned DAG stays.
  EXPECT_EQ(cli(dst, {"repo", "gc"}).status, 0);
  size_t temps = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(dst) / "blocks")) {
    if (e.path().filename().string().find(".tmp-") != std::string::npos) ++temps;
  }
  EXPECT_EQ(temps, 0u);
  EXPECT_EQ(cli(dst, {"cat", cid}).out.size(), data.size());
  server.stop();
  t.join();
}

}  // namespace
}  // namespace ia::test
