#pragma once
// The device the parity tests run their models on: the CPU, or what IA_TEST_DEVICE names
// ("cuda", "cuda:1"), as the GPU script (scripts/gpu/run.sh) runs them. A device that is not
// usable fails the test with the reason rather than quietly testing the CPU again.
#include <cstdlib>
#include <iostream>
#include <string>

#include "core/device.h"
#include "runtime/device_selection.h"

namespace ia {

inline Device test_device() {
  const char* requested = std::getenv("IA_TEST_DEVICE");
  if (!requested || !*requested) return Device::cpu();
  const Device device = choose_device(requested);
  static const bool said = (std::cout << "[ device   ] parity on " << device.str() << "\n", true);
  (void)said;
  return device;
}

}  // namespace ia
