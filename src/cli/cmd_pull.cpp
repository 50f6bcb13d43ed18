// `pull org/name[@revision]`: downloads a Hugging Face model into the Hugging
// Face cache, as `ollama pull` does for its registry, and prints where its
// snapshot is. `--model org/name` then runs it without touching the network.
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "core/error.h"
#include "hub/hub.h"

namespace ia::cli {

void register_pull(CLI::App& app, Context& /*ctx*/, Action& action) {
  auto model = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "pull", "Download a Hugging Face model (org/name[@revision]) into the Hugging Face cache; prints its folder");
  sub->add_option("model", *model, "Hugging Face model id: org/name or org/name@revision (branch, tag or commit)")
      ->required();
  sub->callback([&action, model] {
    action = [model] {
      auto ref = hub::parse_repo_ref(*model);
      if (!ref)
        fail(ErrorKind::InvalidArgument, "{}: not a Hugging Face model id (org/name or org/name@revision)", *model);
      const hub::PullResult r = hub::pull(hub::HubSettings::from_env(), *ref);
      std::cout << json_text(nlohmann::json{{"model", ref->repo},
                                            {"revision", ref->revision},
                                            {"commit", r.commit},
                                            {"path", r.snapshot.string()},
                                            {"files", r.files},
                                            {"downloaded", r.downloaded},
                                            {"bytes_downloaded", r.bytes}})
                << "\n";
      return 0;
    };
  });
}

}  // namespace ia::cli
