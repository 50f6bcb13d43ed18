#pragma once
// Hardware detection: what this machine offers (CPU ISA, memory, CUDA devices).
// CUDA is probed through the driver library loaded at run time (dlopen of
// libcuda.so.1), so this builds and runs where no CUDA is installed.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ia {

struct CudaDeviceInfo {
  int index = 0;  // ordinal as the driver numbers it (after CUDA_VISIBLE_DEVICES)
  std::string name;
  uint64_t total_memory_bytes = 0;
  int cc_major = 0;  // compute capability, e.g. 9.0 for H100
  int cc_minor = 0;
  int multiprocessors = 0;

  std::string compute_capability() const { return std::to_string(cc_major) + "." + std::to_string(cc_minor); }
};

// The CUDA devices the driver reports. Empty when CUDA cannot be used here; then
// *reason (when given) says why, e.g. "libcuda.so.1 not found: ..." or
// "cuInit failed with error 100 (CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected)".
// Probed once per process; later calls return the cached result.
std::vector<CudaDeviceInfo> cuda_devices(std::string* reason = nullptr);

// CUDA driver version as "12.4", or "" when the driver library is not loadable.
std::string cuda_driver_version();

// {"cpu": {"model", "vendor", "physical_cores", "logical_cores", "isa": {flag: bool, ...}, "best_isa"},
//  "memory": {"total_bytes", "available_bytes"},
//  "cuda": {"available", "reason" (when not available), "driver_version" (when known),
//           "devices": [{"index", "name", "total_memory_bytes", "compute_capability", "multiprocessors"}]}}
nlohmann::json hardware_report();

}  // namespace ia
