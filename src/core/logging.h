#pragma once
// Logging goes to stderr through spdlog so stdout stays clean JSON for the CLI.
#include <spdlog/spdlog.h>

namespace ia {
void init_logging(bool verbose);
}  // namespace ia
