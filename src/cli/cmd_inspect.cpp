// `inspect`: what a model folder holds and whether this build can run it.
#include <iostream>
#include <string>

#include "cli/cli_common.h"

namespace ia::cli {

void register_inspect(CLI::App& app, Context& ctx, Action& action) {
  auto model = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("inspect", "Family, architecture, task, modality, parameters, dtypes and files");
  sub->add_option("-m,--model", *model, "Hugging Face model folder")->required();
  sub->callback([&ctx, &action, model] {
    action = [&ctx, model] {
      std::cout << json_text(ctx.accelerator().inspect(*model)) << "\n";
      return 0;
    };
  });
}

}  // namespace ia::cli
