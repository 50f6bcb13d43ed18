#include "core/weight_prepack.h"

#include <atomic>
#include <cstdlib>

namespace ia {
namespace {

const char* env_choice() {
  static const char* e = std::getenv("IA_CPU_PREPACK");
  return e;
}

std::atomic<bool>& setting() {
  static std::atomic<bool> on{!(env_choice() && env_choice()[0] == '0')};
  return on;
}

}  // namespace

bool weight_prepack_enabled() {
  return setting().load(std::memory_order_relaxed);
}

void set_weight_prepack(bool on) {
  if (env_choice() && env_choice()[0] != '\0') return;
  setting().store(on, std::memory_order_relaxed);
}

}  // namespace ia
