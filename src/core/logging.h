#pragma once
// Logging goes to stderr through spdlog so stdout stays clean JSON for the CLI.
#include <spdlog/spdlog.h>

namespace ia {
void init_logging(bool verbose);
// init_logging(false) unless it already ran: a program using the library that never calls it
// (embed_example, a user's server) gets warnings on stderr, where spdlog's own default logger
// would write them to stdout, the program's output. Called by the library's entry points.
void ensure_logging();
}  // namespace ia
