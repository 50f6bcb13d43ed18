#include "runtime/hardware.h"

#include <gtest/gtest.h>

#include <string>

#include "backends/backend.h"
#include "backends/cuda_library.h"
#include "core/cpu_info.h"
#include "core/error.h"
#include "runtime/device_selection.h"

namespace ia {
namespace {

using nlohmann::json;

ErrorKind kind_of(const std::string& requested) {
  try {
    choose_device(requested);
  } catch (const Error& e) {
    EXPECT_FALSE(std::string(e.what()).empty());
    return e.kind();
  }
  ADD_FAILURE() << "choose_device(\"" << requested << "\") did not throw";
  return ErrorKind::Internal;
}

TEST(HardwareReport, HasAllKeysWithTypes) {
  const json r = hardware_report();
  ASSERT_TRUE(r.is_object());

  ASSERT_TRUE(r.contains("cpu"));
  const json& cpu = r["cpu"];
  ASSERT_TRUE(cpu.is_object());
  EXPECT_TRUE(cpu["model"].is_string());
  EXPECT_FALSE(cpu["model"].get<std::string>().empty());
  EXPECT_TRUE(cpu["vendor"].is_string());
  ASSERT_TRUE(cpu["physical_cores"].is_number_integer());
  ASSERT_TRUE(cpu["logical_cores"].is_number_integer());
  EXPECT_GE(cpu["physical_cores"].get<int>(), 1);
  EXPECT_GE(cpu["logical_cores"].get<int>(), cpu["physical_cores"].get<int>());
  ASSERT_TRUE(cpu["isa"].is_object());
  for (const char* flag :
       {"sse42", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni",
        "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "avx_vnni"}) {
    ASSERT_TRUE(cpu["isa"].contains(flag)) << flag;
    EXPECT_TRUE(cpu["isa"][flag].is_boolean()) << flag;
  }
  EXPECT_EQ(cpu["isa"].size(), 16u);
  EXPECT_EQ(cpu["isa"]["avx2"].get<bool>(), cpu_features().avx2);
  EXPECT_EQ(cpu["isa"]["avx512f"].get<bool>(), cpu_features().avx512f);
  ASSERT_TRUE(cpu["best_isa"].is_string());
  EXPECT_EQ(cpu["best_isa"].get<std::string>(), best_isa_name());

  ASSERT_TRUE(r.contains("memory"));
  const json& mem = r["memory"];
  ASSERT_TRUE(mem["total_bytes"].is_number_unsigned());
  ASSERT_TRUE(mem["available_bytes"].is_number_unsigned());
  EXPECT_GT(mem["total_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(mem["available_bytes"].get<uint64_t>(), 0u);
  EXPECT_LE(mem["available_bytes"].get<uint64_t>(), mem["total_bytes"].get<uint64_t>());

  ASSERT_TRUE(r.contains("cuda"));
  const json& cuda = r["cuda"];
  ASSERT_TRUE(cuda["available"].is_boolean());
  ASSERT_TRUE(cuda["devices"].is_array());
  if (cuda.contains("driver_version")) {
    EXPECT_TRUE(cuda["driver_version"].is_string());
    EXPECT_NE(cuda["driver_version"].get<std::string>().find('.'), std::string::npos);
  }
  if (!cuda["available"].get<bool>()) {
    ASSERT_TRUE(cuda.contains("reason"));
    ASSERT_TRUE(cuda["reason"].is_string());
    EXPECT_FALSE(cuda["reason"].get<std::string>().empty());
    EXPECT_TRUE(cuda["devices"].empty());
  } else {
    EXPECT_FALSE(cuda.contains("reason"));
    ASSERT_FALSE(cuda["devices"].empty());
    int expected_index = 0;
    for (const json& d : cuda["devices"]) {
      EXPECT_EQ(d["index"].get<int>(), expected_index++);
      EXPECT_FALSE(d["name"].get<std::string>().empty());
      EXPECT_GT(d["total_memory_bytes"].get<uint64_t>(), 0u);
      const std::string cc = d["compute_capability"].get<std::string>();
      ASSERT_NE(cc.find('.'), std::string::npos) << cc;
      EXPECT_GE(std::stoi(cc.substr(0, cc.find('.'))), 3) << cc;
      EXPECT_GT(d["multiprocessors"].get<int>(), 0);
    }
  }
}

TEST(HardwareReport, CudaDevicesAgreesWithReport) {
  std::string reason = "unset";
  const std::vector<CudaDeviceInfo> devices = cuda_devices(&reason);
  const json cuda = hardware_report()["cuda"];
  EXPECT_EQ(devices.size(), cuda["devices"].size());
  EXPECT_EQ(devices.empty(), !cuda["available"].get<bool>());
  if (devices.empty()) {
    EXPECT_FALSE(reason.empty());
    EXPECT_EQ(reason, cuda["reason"].get<std::string>());
    std::cout << "[ info ] CUDA unavailable: " << reason << "\n";
  } else {
    EXPECT_TRUE(reason.empty());
    for (const CudaDeviceInfo& d : devices) {
      EXPECT_GE(d.cc_major, 3);
      std::cout << "[ info ] cuda:" << d.index << " " << d.name << " cc " << d.compute_capability() << ", "
                << d.multiprocessors << " SMs, " << (d.total_memory_bytes >> 20) << " MiB\n";
    }
  }
  EXPECT_EQ(cuda_devices(nullptr).size(), devices.size());  // cached, stable
}

TEST(DeviceSelection, Cpu) {
  EXPECT_EQ(choose_device("cpu"), Device::cpu());
}

TEST(DeviceSelection, AutoPicksCudaOnlyWithDeviceAndBackend) {
  const Device d = choose_device("auto");
  const bool cuda_usable = !cuda_devices(nullptr).empty() && has_backend(Device::cuda(0));
  EXPECT_EQ(d, cuda_usable ? Device::cuda(0) : Device::cpu());
}

TEST(DeviceSelection, UnknownStringsAreInvalidArgument) {
  for (const char* s :
       {"bogus", "", "CPU ", "gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:1x", "cuda0", "cuda:+1", "cpu:0"}) {
    EXPECT_EQ(kind_of(s), ErrorKind::InvalidArgument) << "'" << s << "'";
  }
}

std::string message_of(const std::string& requested) {
  try {
    choose_device(requested);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DeviceSelection, NoCudaBackendInTheBuildIsSaidAsSuch) {
  // Not "driver missing": the two need different fixes (another build vs installing a driver).
  if (cuda_library_status().built) {
    // A build with the backend: without a GPU it says why the GPU is unusable instead.
    if (!has_backend(Device::cuda(0))) {
      const std::string m = message_of("cuda");
      EXPECT_EQ(m.find("no CUDA backend"), std::string::npos) << m;
      EXPECT_NE(m.find("the CUDA backend"), std::string::npos) << m;
    }
    return;
  }
  for (const char* s : {"cuda", "cuda:0", "cuda:3"}) {
    const std::string m = message_of(s);
    EXPECT_NE(m.find("this build of ipfs-accelerate has no CUDA backend"), std::string::npos) << m;
    EXPECT_NE(m.find("--device cpu"), std::string::npos) << m;
    EXPECT_EQ(m.find("libcuda"), std::string::npos) << m;
  }
}

TEST(DeviceSelection, CudaWhenUnavailableIsUnavailable) {
  const size_t n = cuda_devices(nullptr).size();
  if (n == 0 || !has_backend(Device::cuda(0))) {
    EXPECT_EQ(kind_of("cuda"), ErrorKind::Unavailable);
    EXPECT_EQ(kind_of("cuda:0"), ErrorKind::Unavailable);
    try {
      choose_device("cuda");
    } catch (const Error& e) {
      std::cout << "[ info ] " << e.what() << "\n";
    }
  } else {
    EXPECT_EQ(choose_device("cuda"), Device::cuda(0));
    EXPECT_EQ(choose_device("cuda:0"), Device::cuda(0));
  }
  // An index past the last device is never available.
  EXPECT_EQ(kind_of("cuda:" + std::to_string(n + 7)), ErrorKind::Unavailable);
}

}  // namespace
}  // namespace ia
