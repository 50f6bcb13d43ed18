#pragma once
// How much of a GPU's memory this process may take, and the one check that a model (or a KV
// cache) fits before anything is allocated for it: a clear error with the sizes instead of an
// out-of-memory failure halfway through a load. The share is --gpu-memory-fraction of the memory
// free at the time of the check (what other processes hold is never counted as ours); 0.9 by
// default, leaving room for activations and the CUDA context.
#include <cstdint>
#include <optional>
#include <string>

#include "core/device.h"

namespace ia {

// InvalidArgument outside (0, 1].
void set_gpu_memory_fraction(double fraction);
double gpu_memory_fraction();

struct DeviceMemoryInfo {
  int64_t free_bytes = 0;  // what the driver has free, plus what this process keeps cached
  int64_t total_bytes = 0;
};
// Nullopt for the CPU (host memory is not budgeted here).
std::optional<DeviceMemoryInfo> device_memory_info(Device device);

// Unavailable, naming the sizes, when `bytes` more do not fit in the share of `device`'s free
// memory this process may take. `what` says what needs them ("the weights of MODEL"). No-op on the CPU.
void require_device_room(Device device, int64_t bytes, const std::string& what);

}  // namespace ia
