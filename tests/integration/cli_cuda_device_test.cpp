// --device cuda as a user meets it: on a GPU machine the model runs there and the output says
// so; anywhere else exit 2 with one line that says why (no backend in the build, the library
// missing, no driver, no such device).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "cli_runner.h"

namespace ia::test {
namespace {

const std::string kBert = std::string(IA_FIXTURES_DIR) + "/models/bert";

// Sets an environment variable for the child processes of one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(CliCudaDevice, RunsThereOrSaysWhyInOneLine) {
  CliResult r = run_cli({"embed", "--model", kBert, "--device", "cuda", "hello"});
  if (has_backend(Device::cuda(0))) {
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["device"], "cuda:0") << r.out;
    return;
  }
  expect_user_error(r, "device 'cuda'");
  std::cout << "[ info     ] " << r.err;
}

TEST(CliCudaDevice, ADeviceIndexBeyondTheMachineIsRefused) {
  expect_user_error(run_cli({"embed", "--model", kBert, "--device", "cuda:7", "hello"}), "cuda:7");
}

TEST(CliCudaDevice, AMissingBackendLibraryIsNamed) {
  ScopedEnv env("IA_CUDA_LIBRARY", "/nonexistent/libipfs_accelerate_cuda.so");
  CliResult r = run_cli({"embed", "--model", kBert, "--device", "cuda", "hello"});
  expect_user_error(r, "device 'cuda'");
  // A build with the backend looks for the named file and says it is missing; one without
  // says the build has none.
  const bool said = r.err.find("/nonexistent/libipfs_accelerate_cuda.so") != std::string::npos ||
                    r.err.find("no CUDA backend") != std::string::npos;
  EXPECT_TRUE(said) << r.err;
}

TEST(CliCudaDevice, AutoFallsBackToTheCpuWithoutAGpu) {
  CliResult r = run_cli({"embed", "--model", kBert, "--device", "auto", "hello"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["device"], has_backend(Device::cuda(0)) ? "cuda:0" : "cpu") << r.out;
}

TEST(CliCudaDevice, AGpuMemoryFractionOutsideZeroToOneIsRefused) {
  for (const char* bad : {"0", "1.5", "-0.5", "nan", "lots"}) {
    CliResult r = run_cli({"embed", "--model", kBert, "--gpu-memory-fraction", bad, "hello"});
    expect_user_error(r, "--gpu-memory-fraction");
  }
  CliResult r = run_cli({"embed", "--model", kBert, "--gpu-memory-fraction", "1", "hello"});
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(CliCudaDevice, AModelLargerThanItsShareOfTheGpuIsRefusedWithTheSizes) {
  if (!has_backend(Device::cuda(0))) GTEST_SKIP() << "no usable GPU here: the check needs one to measure";
  const std::string llama = std::string(IA_FIXTURES_DIR) + "/models/llama";
  CliResult r = run_cli(
      {"generate", "--model", llama, "--device", "cuda", "--gpu-memory-fraction", "1e-9", "-p", "hi", "-n", "2"});
  expect_user_error(r, "the weights of");
  EXPECT_NE(r.err.find("GiB free of"), std::string::npos) << r.err;
  // Nothing was loaded, so a fraction that fits runs.
  EXPECT_EQ(run_cli({"generate", "--model", llama, "--device", "cuda", "-p", "hi", "-n", "2"}).status, 0);
  // auto places a model where its share fits: here no GPU's does, so the CPU.
  CliResult a = run_cli({"generate", "--model", llama, "--device", "auto", "--gpu-memory-fraction", "1e-9", "-p", "hi",
                         "-n", "2", "--json"});
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)["device"], "cpu") << a.out;
}

}  // namespace
}  // namespace ia::test
