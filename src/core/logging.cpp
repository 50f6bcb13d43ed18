#include "core/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace ia {

void init_logging(bool verbose) {
  auto logger = spdlog::get("ipfs-accelerate");
  if (!logger) logger = spdlog::stderr_color_mt("ipfs-accelerate");
  logger->set_pattern("%^%l%$: %v");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

void ensure_logging() {
  if (!spdlog::get("ipfs-accelerate")) init_logging(false);
}

}  // namespace ia
