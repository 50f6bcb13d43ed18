// The CUDA backend library as the program loads it: where the build made it, it must load (every
// symbol it takes from the program exported, cuBLASLt found) even on a machine without a GPU,
// and then say why it runs on no device; where a GPU is present its backends must register.
#include <gtest/gtest.h>

#include <iostream>

#include "backends/backend.h"
#include "backends/cuda_library.h"

namespace ia {
namespace {

TEST(CudaLibrary, LoadsWhereBuiltAndSaysWhyWithoutADevice) {
  const CudaLibraryStatus& s = cuda_library_status();
  std::cout << "[ info     ] built=" << s.built << " loaded=" << s.loaded << " devices=" << s.devices
            << " path=" << s.path << " reason=" << s.reason << "\n";
  if (!s.built) {
    EXPECT_FALSE(s.loaded);
    EXPECT_NE(s.reason.find("no CUDA backend"), std::string::npos) << s.reason;
    GTEST_SKIP() << "this build has no CUDA backend (nvcc was not found at configure time)";
  }
  ASSERT_FALSE(s.path.empty()) << s.reason;
  ASSERT_TRUE(s.loaded) << s.reason;  // an unexported symbol or a missing cuBLASLt fails here
  if (s.devices == 0) {
    EXPECT_FALSE(s.reason.empty());
    EXPECT_FALSE(has_backend(Device::cuda(0)));
    return;
  }
  ASSERT_TRUE(has_backend(Device::cuda(0)));
  EXPECT_EQ(backend_for(Device::cuda(0)).device(), Device::cuda(0));
  EXPECT_NE(backend_for(Device::cuda(0)).name().find("cuda:0"), std::string::npos);
}

}  // namespace
}  // namespace ia
