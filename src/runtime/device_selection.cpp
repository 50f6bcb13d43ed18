#include "runtime/device_selection.h"

#include <charconv>

#include "backends/backend.h"
#include "backends/cuda_library.h"
#include "backends/memory_budget.h"
#include "core/error.h"
#include "runtime/hardware.h"

namespace ia {

namespace {

// "cuda" -> 0, "cuda:N" -> N; -1 when `s` is not a CUDA device name.
int parse_cuda_index(const std::string& s) {
  if (s == "cuda") return 0;
  const std::string prefix = "cuda:";
  if (s.size() <= prefix.size() || s.compare(0, prefix.size(), prefix) != 0) return -1;
  const char* first = s.data() + prefix.size();
  const char* last = s.data() + s.size();
  int index = -1;
  auto [ptr, ec] = std::from_chars(first, last, index);
  if (ec != std::errc() || ptr != last || index < 0) return -1;
  return index;
}

// The usable GPU with the most free memory whose share (--gpu-memory-fraction) holds `bytes`;
// the CPU when none does (or there is no GPU).
Device auto_device(int64_t bytes) {
  Device best = Device::cpu();
  int64_t best_free = -1;
  for (Backend* b : registered_backends()) {
    const Device d = b->device();
    if (d.is_cpu()) continue;
    const std::optional<DeviceMemoryInfo> m = b->memory_info();
    if (!m) continue;
    const bool fits = static_cast<double>(bytes) <= gpu_memory_fraction() * static_cast<double>(m->free_bytes);
    if (fits && m->free_bytes > best_free) {
      best = d;
      best_free = m->free_bytes;
    }
  }
  return best;
}

}  // namespace

Device choose_device(const std::string& requested, int64_t model_bytes) {
  if (requested == "cpu") return Device::cpu();
  if (requested == "auto") return has_backend(Device::cuda(0)) ? auto_device(model_bytes) : Device::cpu();
  int index = parse_cuda_index(requested);
  if (index < 0) {
    fail(ErrorKind::InvalidArgument, "unknown device '{}' (expected auto, cpu, cuda or cuda:N)", requested);
  }
  if (!has_backend(Device::cuda(0))) {
    const CudaLibraryStatus& library = cuda_library_status();
    // A build without the backend first: no driver would make it work, so say what would.
    if (!library.built)
      fail(ErrorKind::Unavailable,
           "device '{}': this build of ipfs-accelerate has no CUDA backend (it runs models on the CPU: use --device "
           "cpu or auto)",
           requested);
    // The library itself missing or broken is what to fix first (the bundle, the install).
    if (!library.loaded)
      fail(ErrorKind::Unavailable, "device '{}': the CUDA backend could not be used: {}", requested, library.reason);
    // No driver: the driver probe names the missing library, clearer than the runtime's
    // "driver version is insufficient".
    std::string driver_reason;
    if (cuda_devices(&driver_reason).empty())
      fail(ErrorKind::Unavailable, "device '{}': the CUDA backend is built in but no GPU is usable: {}", requested,
           driver_reason);
    fail(ErrorKind::Unavailable, "device '{}': the CUDA backend is built in but no GPU is usable: {}", requested,
         library.reason);
  }
  // Backends carry the driver's ordinals (a card too old for this build leaves a gap).
  if (!has_backend(Device::cuda(index))) {
    fail(ErrorKind::Unavailable, "device '{}' requested but only {} usable CUDA device(s) found", requested,
         cuda_library_status().devices);
  }
  return Device::cuda(index);
}

}  // namespace ia
