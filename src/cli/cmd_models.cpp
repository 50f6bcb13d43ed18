// `models add|list|rm`: short names for models on IPFS, so `--model NAME`
// works like `--model CID`. Also the root `--gateway` option, the gateways a
// `--model CID` is fetched from when it is not in the local blockstore.
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "core/error.h"
#include "ipfs/exporter.h"
#include "ipfs/importer.h"
#include "ipfs/repo.h"
#include "router/model_names.h"
#include "router/model_source.h"

namespace ia::cli {

namespace {

namespace fs = std::filesystem;

struct ModelsArgs {
  std::string name, source;
  bool cid_v1 = false;
  std::vector<std::string> gateways;
};

// A folder is added to the blockstore (and pinned); anything else must be an IPFS path.
std::string target_of(const ModelsArgs& a) {
  std::error_code ec;
  if (fs::is_directory(a.source, ec)) {
    ipfs::Repo repo;
    ipfs::ImportOptions o;
    o.cid_version = a.cid_v1 ? 1 : 0;
    o.dereference_symlinks = true;  // a model is its files' bytes (a Hugging Face snapshot is links into blobs/)
    o.validate();
    ipfs::BuiltNode root = ipfs::import_path(a.source, repo.blocks(), o, /*recursive=*/true);
    repo.pin_add(root.cid, true);
    return root.cid.to_string();
  }
  if (fs::exists(a.source, ec)) ia::fail(ErrorKind::InvalidArgument, "{}: a model must be a folder", a.source);
  ipfs::IpfsPath p = ipfs::parse_ipfs_path(a.source);
  return p.path.empty() ? p.root.to_string() : p.root.to_string() + "/" + p.path;
}

}  // namespace

void register_models(CLI::App& app, Context& ctx, Action& action) {
  auto a = std::make_shared<ModelsArgs>();
  app.add_option("--gateway", "IPFS gateway for --model CID (repeatable; default: $IPFS_GATEWAY)")
      ->type_name("URL")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->each([a](const std::string& g) {  // runs while parsing, before the option's vector is filled
        a->gateways.push_back(g);
        router::set_model_gateways(a->gateways);
      });

  CLI::App* models = app.add_subcommand("models", "Names for models on IPFS: --model NAME loads NAME's CID");
  models->require_subcommand(1);
  CLI::App* add = models->add_subcommand("add", "Register NAME for a folder (added to the blockstore) or a CID");
  add->add_option("name", a->name, "Name")->required();
  add->add_option("source", a->source, "Model folder (symlinks followed), CID, CID/path or ipfs://CID/path")
      ->required();
  add->add_flag("--cid-version-1", a->cid_v1, "Add a folder with CIDv1 and raw leaves");
  add->callback([a, &action] {
    action = [a] {
      std::string target = target_of(*a);
      router::ModelNames(ipfs::default_home()).set(a->name, target);
      std::cout << json_text(nlohmann::json{{"name", a->name}, {"cid", target}}) << "\n";
      return 0;
    };
  });
  CLI::App* list = models->add_subcommand("list", "One {name, cid} object per line");
  list->callback([&action] {
    action = [] {
      for (const auto& [name, cid] : router::ModelNames(ipfs::default_home()).list())
        std::cout << json_text(nlohmann::json{{"name", name}, {"cid", cid}}) << "\n";
      return 0;
    };
  });
  CLI::App* rm = models->add_subcommand("rm", "Forget a name (its blocks stay until `ipfs pin rm` + `ipfs repo gc`)");
  rm->add_option("name", a->name, "Name")->required();
  rm->callback([a, &action] {
    action = [a] {
      if (!router::ModelNames(ipfs::default_home()).remove(a->name))
        ia::fail(ErrorKind::NotFound, "no model named \"{}\"", a->name);
      std::cout << json_text(nlohmann::json{{"removed", a->name}}) << "\n";
      return 0;
    };
  });
}

}  // namespace ia::cli
