#include "backends/cpu/amx_permission.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <cstdlib>

#include "core/logging.h"

namespace ia::cpu {

bool amx_bf16_usable() {
  static const bool usable = [] {
#if defined(__x86_64__) && defined(SYS_arch_prctl)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool amx_bf16 = (d >> 22) & 1u, amx_tile = (d >> 24) & 1u;
    if (!amx_bf16 || !amx_tile) return false;
    constexpr int kArchReqXcompPerm = 0x1023;
    constexpr int kXfeatureXtiledata = 18;
    if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) {
      SPDLOG_DEBUG("arch_prctl(ARCH_REQ_XCOMP_PERM) failed; AMX unavailable");
      return false;
    }
    return true;
#else
    return false;
#endif
  }();
  return usable;
}

}  // namespace ia::cpu
