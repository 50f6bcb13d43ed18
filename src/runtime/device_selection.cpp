#include "runtime/device_selection.h"

#include <charconv>

#include "backends/backend.h"
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

}  // namespace

Device choose_device(const std::string& requested) {
  if (requested == "cpu") return Device::cpu();
  if (requested == "auto") {
    if (!has_backend(Device::cuda(0))) return Device::cpu();
    if (cuda_devices(nullptr).empty()) return Device::cpu();
    return Device::cuda(0);
  }
  int index = parse_cuda_index(requested);
  if (index < 0) {
    fail(ErrorKind::InvalidArgument, "unknown device '{}' (expected auto, cpu, cuda or cuda:N)", requested);
  }
  // A build without the backend first: no driver would make it work, so say what would.
  if (!has_backend(Device::cuda(0)))
    fail(ErrorKind::Unavailable,
         "device '{}': this build of ipfs-accelerate has no CUDA backend (it runs models on the CPU: use --device "
         "cpu or auto)",
         requested);
  std::string reason;
  std::vector<CudaDeviceInfo> devices = cuda_devices(&reason);
  if (devices.empty())
    fail(ErrorKind::Unavailable, "device '{}': the CUDA backend is built in but no GPU is usable: {}", requested,
         reason);
  if (static_cast<size_t>(index) >= devices.size()) {
    fail(ErrorKind::Unavailable, "device '{}' requested but only {} CUDA device(s) found (cuda:0..cuda:{})", requested,
         devices.size(), devices.size() - 1);
  }
  return Device::cuda(index);
}

}  // namespace ia
