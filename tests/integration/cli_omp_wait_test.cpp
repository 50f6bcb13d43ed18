// The CLI runs its OpenMP workers with a bounded spin unless the user chose a wait policy:
// libgomp's own report (OMP_DISPLAY_ENV=verbose, printed when it loads) of the process that
// does the work shows the CLI's GOMP_SPINCOUNT (core/omp_wait.h).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/omp_wait.h"
#include "integration/cli_runner.h"

namespace ia::test {
namespace {

// LLVM's libomp (clang builds) reports its settings in another form and reads KMP_* variables.
bool runtime_is_libgomp() {
  return dlsym(RTLD_DEFAULT, "__kmpc_fork_call") == nullptr;
}

// The last GOMP_SPINCOUNT libgomp reported on stderr ("  GOMP_SPINCOUNT = '1000'"): the
// re-executed process's, which reports after the first one.
std::string last_reported_spin_count(const std::string& err) {
  const std::string key = "GOMP_SPINCOUNT = '";
  const size_t at = err.rfind(key);
  if (at == std::string::npos) return "";
  const size_t begin = at + key.size();
  return err.substr(begin, err.find('\'', begin) - begin);
}

class CliOmpWait : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!runtime_is_libgomp()) GTEST_SKIP() << "not libgomp";
    unsetenv("OMP_WAIT_POLICY");
    unsetenv("GOMP_SPINCOUNT");
    unsetenv(kOmpWaitMarker);
    setenv("OMP_DISPLAY_ENV", "verbose", 1);
  }
  void TearDown() override {
    unsetenv("OMP_DISPLAY_ENV");
    unsetenv("OMP_WAIT_POLICY");
    unsetenv("GOMP_SPINCOUNT");
  }
};

TEST_F(CliOmpWait, BoundedSpinByDefault) {
  auto r = run_cli({"hardware"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(last_reported_spin_count(r.err), kCliGompSpinCount) << r.err;
}

TEST_F(CliOmpWait, NoReexecutionForTheVersion) {
  auto r = run_cli({"--version"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(last_reported_spin_count(r.err), "300000") << r.err;  // libgomp's default, reported once
}

TEST_F(CliOmpWait, TheUsersSpinCountStands) {
  setenv("GOMP_SPINCOUNT", "12345", 1);
  auto r = run_cli({"hardware"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(last_reported_spin_count(r.err), "12345") << r.err;
}

TEST_F(CliOmpWait, TheUsersWaitPolicyStands) {
  setenv("OMP_WAIT_POLICY", "active", 1);
  auto r = run_cli({"hardware"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("OMP_WAIT_POLICY = 'ACTIVE'"), std::string::npos) << r.err;
  EXPECT_NE(last_reported_spin_count(r.err), kCliGompSpinCount) << r.err;  // libgomp's active default
}

}  // namespace
}  // namespace ia::test
