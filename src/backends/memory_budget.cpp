#include "backends/memory_budget.h"

#include <atomic>
#include <cmath>

#include "backends/backend.h"
#include "core/error.h"

namespace ia {

namespace {
std::atomic<double> g_fraction{0.9};
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
}  // namespace

void set_gpu_memory_fraction(double fraction) {
  if (!(fraction > 0 && fraction <= 1) || !std::isfinite(fraction))
    fail(ErrorKind::InvalidArgument, "--gpu-memory-fraction must be in (0, 1], got {}", fraction);
  g_fraction = fraction;
}

double gpu_memory_fraction() {
  return g_fraction;
}

std::optional<DeviceMemoryInfo> device_memory_info(Device device) {
  if (device.is_cpu()) return std::nullopt;
  return backend_for(device).memory_info();
}

void require_device_room(Device device, int64_t bytes, const std::string& what) {
  const std::optional<DeviceMemoryInfo> m = device_memory_info(device);
  if (!m) return;
  const double fraction = gpu_memory_fraction();
  const auto allowed = static_cast<int64_t>(fraction * static_cast<double>(m->free_bytes));
  if (bytes <= allowed) return;
  fail(ErrorKind::Unavailable,
       "{} need {:.2f} GiB on {}, which has {:.2f} GiB free of {:.2f} GiB; --gpu-memory-fraction {} allows {:.2f} GiB "
       "(use a smaller model or dtype, another device, or a larger fraction)",
       what, bytes / kGiB, device.str(), m->free_bytes / kGiB, m->total_bytes / kGiB, fraction, allowed / kGiB);
}

}  // namespace ia
