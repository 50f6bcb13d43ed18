// The default thread count's CPU quota: cgroup v2 cpu.max and /proc/self/cgroup parsing, fed
// file contents (and a fake cgroup tree), never the machine's own cgroup.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/thread_pool.h"

namespace ia {
namespace {

namespace fs = std::filesystem;

TEST(CgroupCpuMax, QuotaOverPeriodRoundedUp) {
  EXPECT_EQ(cgroup_cpu_max_limit("200000 100000\n"), 2);
  EXPECT_EQ(cgroup_cpu_max_limit("100000 100000"), 1);
  EXPECT_EQ(cgroup_cpu_max_limit("150000 100000\n"), 2);  // --cpus 1.5
  EXPECT_EQ(cgroup_cpu_max_limit("50000 100000\n"), 1);   // --cpus 0.5: still one thread
  EXPECT_EQ(cgroup_cpu_max_limit("400000 100000\n"), 4);
  EXPECT_EQ(cgroup_cpu_max_limit("300000"), 3);  // the period defaults to 100000
}

TEST(CgroupCpuMax, MaxOrGarbageIsNoLimit) {
  EXPECT_EQ(cgroup_cpu_max_limit("max 100000\n"), 0);
  EXPECT_EQ(cgroup_cpu_max_limit("max"), 0);
  EXPECT_EQ(cgroup_cpu_max_limit(""), 0);
  EXPECT_EQ(cgroup_cpu_max_limit("abc 100000"), 0);
  EXPECT_EQ(cgroup_cpu_max_limit("100000 0"), 0);
  EXPECT_EQ(cgroup_cpu_max_limit("-5 100000"), 0);
  EXPECT_EQ(cgroup_cpu_max_limit("99999999999999999999999 1"), 0);  // overflow
  EXPECT_EQ(cgroup_cpu_max_limit("9999999999 1"), kMaxThreads);
}

TEST(ProcSelfCgroup, TheV2LineIsThePath) {
  EXPECT_EQ(cgroup_v2_path("0::/\n"), "/");
  EXPECT_EQ(cgroup_v2_path("0::/user.slice/user-1000.slice/session-3.scope\n"),
            "/user.slice/user-1000.slice/session-3.scope");
  // Hybrid v1 + v2: the v2 line is the one with hierarchy 0 and no controllers.
  EXPECT_EQ(cgroup_v2_path("12:cpu,cpuacct:/docker/abc\n1:name=systemd:/x\n0::/docker/abc\n"), "/docker/abc");
  EXPECT_EQ(cgroup_v2_path("4:cpu:/a\n3:memory:/a\n"), "");  // v1 only
  EXPECT_EQ(cgroup_v2_path(""), "");
}

class FakeCgroup : public testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "ia-cgroup-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    root_ = templ;
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const fs::path& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  int limit() { return cgroup_cpu_limit(root_.string(), (root_ / "self_cgroup").string()); }
  fs::path root_;
};

TEST_F(FakeCgroup, AContainerAtTheRootReadsRootCpuMax) {
  write("self_cgroup", "0::/\n");
  write("cpu.max", "200000 100000\n");
  EXPECT_EQ(limit(), 2);
}

TEST_F(FakeCgroup, NoFilesIsNoLimit) {
  write("self_cgroup", "0::/\n");
  EXPECT_EQ(limit(), 0);
  write("cpu.max", "max 100000\n");
  EXPECT_EQ(limit(), 0);
}

TEST_F(FakeCgroup, TheOwnCgroupAndTheTightestAncestorApply) {
  write("self_cgroup", "0::/system.slice/job.service\n");
  write("system.slice/job.service/cpu.max", "max 100000\n");
  write("system.slice/cpu.max", "300000 100000\n");
  EXPECT_EQ(limit(), 3);
  write("system.slice/job.service/cpu.max", "120000 100000\n");
  EXPECT_EQ(limit(), 2);
}

TEST_F(FakeCgroup, NoProcSelfCgroupFallsBackToTheRoot) {
  write("cpu.max", "100000 100000\n");
  EXPECT_EQ(limit(), 1);
}

TEST(ThreadDefaults, TheDefaultIsWithinTheAvailableCpus) {
  EXPECT_GE(default_num_threads(), 1);
  EXPECT_LE(default_num_threads(), available_cpus());
}

}  // namespace
}  // namespace ia
