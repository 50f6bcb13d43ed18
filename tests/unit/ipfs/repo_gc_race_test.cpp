// `repo gc` racing adds: gc in one thread, add → pin → check → unpin in
// another, each through its own Repo (own blockstore object and lock file
// description, as two processes would have). An add that finds its blocks
// already stored (left unpinned by the previous round) is the case gc used to
// break: it deleted them under the add, which then pinned an incomplete DAG.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.h"
#include "ipfs/dag.h"
#include "ipfs/importer.h"
#include "ipfs/repo.h"
#include "unit/ipfs/fixtures.h"

namespace ia::ipfs {
namespace {

namespace fs = std::filesystem;

TEST(RepoGcRace, AddAndGcInParallelNeverLeaveAnIncompletePin) {
  std::string templ = (fs::temp_directory_path() / "ia-gcrace-XXXXXX").string();
  ASSERT_NE(::mkdtemp(templ.data()), nullptr);
  const fs::path dir = templ, home = dir / "home", src = dir / "src";
  fs::create_directories(src / "sub");
  for (int i = 0; i < 4; ++i)
    std::ofstream(src / "sub" / fmt::format("f{}.bin", i), std::ios::binary) << test::xorshift_bytes(40 + i, 700000);

  std::atomic<bool> stop{false};
  std::atomic<int> gc_runs{0};
  std::thread gc([&] {
    while (!stop) {
      Repo repo(home);
      repo.gc();
      ++gc_runs;
    }
  });
  int rounds = 0, incomplete = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (rounds < 60 && std::chrono::steady_clock::now() < deadline) {
    {
      Repo repo(home);
      BuiltNode root = import_path(src, repo.blocks(), ImportOptions{}, true);
      repo.blocks().sync();
      repo.pin_add(root.cid, true);
      try {
        walk_dag(repo.blocks(), root.cid, [](const Cid&, const Bytes&) {});
      } catch (const Error& e) {
        ++incomplete;
        ADD_FAILURE() << "round " << rounds << ": pinned an incomplete DAG: " << e.what();
      }
      repo.pin_rm(root.cid);  // garbage again for the next round to re-add
    }
    ++rounds;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // lets gc in between rounds
  }
  {  // the last round stays pinned
    Repo repo(home);
    repo.pin_add(import_path(src, repo.blocks(), ImportOptions{}, true).cid, true);
  }
  stop = true;
  gc.join();
  EXPECT_GT(gc_runs.load(), 1);
  EXPECT_GT(rounds, 3);
  EXPECT_EQ(incomplete, 0);
  Repo repo(home);
  EXPECT_TRUE(repo.verify().corrupt.empty());
  ASSERT_EQ(repo.pins().size(), 1u);
  for (const Cid& pin : repo.pins()) EXPECT_NO_THROW(walk_dag(repo.blocks(), pin, [](const Cid&, const Bytes&) {}));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ia::ipfs
