// The CLI's OpenMP wait: which variables it sets before libgomp loads, and when it leaves them.
#include "core/omp_wait.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace ia {
namespace {

std::vector<std::pair<std::string, std::string>> decide(const std::map<std::string, std::string>& env) {
  return cli_omp_wait_env([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(CliOmpWait, BoundedSpinWhenTheUserChoseNothing) {
  using Vars = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(decide({}), (Vars{{"GOMP_SPINCOUNT", kCliGompSpinCount}}));
  // Unrelated OpenMP settings are no choice of wait.
  EXPECT_EQ(decide({{"OMP_NUM_THREADS", "4"}, {"OMP_PROC_BIND", "close"}}),
            (Vars{{"GOMP_SPINCOUNT", kCliGompSpinCount}}));
}

TEST(CliOmpWait, TheUsersChoiceStands) {
  EXPECT_TRUE(decide({{"OMP_WAIT_POLICY", "active"}}).empty());
  EXPECT_TRUE(decide({{"OMP_WAIT_POLICY", "passive"}}).empty());
  EXPECT_TRUE(decide({{"GOMP_SPINCOUNT", "300000"}}).empty());
  EXPECT_TRUE(decide({{"GOMP_SPINCOUNT", ""}}).empty());  // set, even empty: libgomp's parse, the user's call
}

TEST(CliOmpWait, TheReexecutedProcessDoesNotExecuteAgain) {
  EXPECT_TRUE(decide({{kOmpWaitMarker, "1"}}).empty());
}

TEST(CliOmpWait, OnlyCommandLinesThatMayComputeReexecute) {
  auto may = [](std::vector<const char*> args) {
    return cli_args_may_compute(static_cast<int>(args.size()), args.data());
  };
  EXPECT_TRUE(may({"ipfs-accelerate", "generate", "-m", "M", "-p", "hi"}));
  EXPECT_TRUE(may({"ipfs-accelerate", "--threads", "2", "embed", "--model", "M", "text"}));
  EXPECT_FALSE(may({"ipfs-accelerate"}));
  EXPECT_FALSE(may({"ipfs-accelerate", "--version"}));
  EXPECT_FALSE(may({"ipfs-accelerate", "--help"}));
  EXPECT_FALSE(may({"ipfs-accelerate", "generate", "-h"}));
  EXPECT_FALSE(may({"ipfs-accelerate", "help", "generate"}));
}

TEST(CliOmpWait, TheSpinIsBounded) {
  // libgomp's own default is 300000 spins (about 3 ms); the CLI's must stay far below it.
  const long spins = std::stol(kCliGompSpinCount);
  EXPECT_GT(spins, 0);
  EXPECT_LE(spins, 10000);
}

}  // namespace
}  // namespace ia
