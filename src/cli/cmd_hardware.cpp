// `hardware`: the capability report (CPU, ISA, memory, CUDA devices).
#include <iostream>

#include "cli/cli_common.h"

namespace ia::cli {

void register_hardware(CLI::App& app, Context& ctx, Action& action) {
  CLI::App* sub = app.add_subcommand("hardware", "CPU model, cores, ISA flags, memory and CUDA devices");
  sub->callback([&action] {
    action = [] {
      std::cout << json_text(ipfs_accelerate::Accelerator::hardware_json()) << "\n";
      return 0;
    };
  });
}

}  // namespace ia::cli
