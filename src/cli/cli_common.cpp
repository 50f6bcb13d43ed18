#include "cli/cli_common.h"

#include <fmt/format.h>

#include <cmath>

namespace ia::cli {

ipfs_accelerate::Accelerator& Context::accelerator() {
  if (!accelerator_) {
    ipfs_accelerate::AcceleratorOptions opts;
    opts.threads = threads;
    accelerator_ = std::make_unique<ipfs_accelerate::Accelerator>(opts);
  }
  return *accelerator_;
}

std::string format_float(float v) {
  if (!std::isfinite(v)) return "null";  // JSON has no NaN/Inf
  return fmt::format("{}", v);
}

}  // namespace ia::cli
