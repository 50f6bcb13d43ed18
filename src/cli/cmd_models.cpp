// `models add|list|rm`: short names for models on IPFS, so `--model NAME`
// works like `--model CID`. `models push DIR s3://bucket/prefix`: a model folder
// published to an S3-compatible store (router/s3_model_push.h), the counterpart of
// `--model s3://…`. Also the root options `--gateway` (the gateways a `--model CID`
// is fetched from when it is not in the local blockstore) and `--s3-endpoint` /
// `--s3-providers` (the S3 endpoints of `--model s3://…` and `models push`).
#include <cctype>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "core/error.h"
#include "ipfs/exporter.h"
#include "ipfs/importer.h"
#include "ipfs/repo.h"
#include "router/model_names.h"
#include "router/model_source.h"
#include "router/s3_model_push.h"
#include "router/s3_model_source.h"

namespace ia::cli {

namespace {

namespace fs = std::filesystem;

struct ModelsArgs {
  std::string name, source;
  bool cid_v1 = false;
  std::vector<std::string> gateways;
  // push (the endpoints are shared with the root options --s3-endpoint / --s3-providers)
  std::string dir, url, part_size;
  std::vector<std::string> s3_urls;
  std::string s3_file;
  int concurrency = 4;
  bool dry_run = false, force = false;
};

// "8388608", "64MiB", "64M", "1GiB", "512KiB": bytes, or binary multiples.
size_t parse_byte_size(const std::string& text, const char* option) {
  size_t used = 0;
  uint64_t n = 0;
  try {
    n = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = used == 0 ? std::string() : text.substr(used);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int shift = -1;
  if (unit.empty() || unit == "b") shift = 0;
  if (unit == "k" || unit == "kib") shift = 10;
  if (unit == "m" || unit == "mib") shift = 20;
  if (unit == "g" || unit == "gib") shift = 30;
  if (used == 0 || text[0] == '-' || shift < 0 || n > (uint64_t{1} << (62 - shift)))
    ia::fail(ErrorKind::InvalidArgument, "{}: `{}` is not a size (bytes, or a number with KiB, MiB or GiB)", option,
             text);
  return static_cast<size_t>(n << shift);
}

std::string mb(uint64_t bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
}

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
  auto add_s3_endpoint = [a](const std::string& u) {
    a->s3_urls.push_back(u);
    router::set_s3_endpoints(a->s3_urls, a->s3_file);
  };
  auto set_s3_file = [a](const std::string& f) {
    a->s3_file = f;
    router::set_s3_endpoints(a->s3_urls, a->s3_file);
  };
  app.add_option("--s3-endpoint",
                 "S3-compatible endpoint for --model s3://… and models push (repeatable: requests are spread over "
                 "them; credentials and region from the AWS variables; default: $AWS_ENDPOINT_URL or AWS)")
      ->type_name("URL")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->each(add_s3_endpoint);
  app.add_option("--s3-providers",
                 "Providers file whose \"s3\" section lists S3 endpoints, each with its credentials and region")
      ->type_name("FILE")
      ->each(set_s3_file);

  CLI::App* models = app.add_subcommand(
      "models", "Names for models on IPFS (--model NAME loads NAME's CID); push a model folder to S3");
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
  CLI::App* push = models->add_subcommand(
      "push", "Publish a model folder to S3 (s3://bucket/prefix): unchanged files skipped, a manifest written last");
  push->add_option("dir", a->dir, "Model folder (symlinks followed; hidden and temporary files skipped)")->required();
  push->add_option("url", a->url, "s3://bucket/prefix")->required();
  push->add_option("--endpoint", "S3-compatible endpoint URL (repeatable; as --s3-endpoint)")
      ->type_name("URL")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->each(add_s3_endpoint);
  push->add_option("--providers", "Providers file with an \"s3\" section of endpoints (as --s3-providers)")
      ->type_name("FILE")
      ->each(set_s3_file);
  push->add_option("--concurrency", a->concurrency, "Requests in flight at once (parts of a large file, small files)")
      ->capture_default_str();
  push->add_option("--part-size", a->part_size,
                   "Files larger than this go by multipart upload, in parts of this size (5MiB to 5GiB; default 64MiB)")
      ->type_name("SIZE");
  push->add_flag("--dry-run", a->dry_run, "Hash, list and compare; upload nothing");
  push->add_flag("--force", a->force, "Upload every file, even those the store already has");
  push->callback([a, &action, &ctx] {
    action = [a, &ctx] {
      router::S3PushOptions o;
      o.concurrency = a->concurrency;
      o.dry_run = a->dry_run;
      o.force = a->force;
      if (!a->part_size.empty()) o.part_size = parse_byte_size(a->part_size, "--part-size");
      router::parse_s3_model_url(a->url);  // a malformed URL before the folder is read
      providers::S3Pool pool(router::s3_pool_config());
      const router::S3PushResult r = router::push_model_folder(a->dir, a->url, pool, o);
      if (!ctx.quiet) {
        for (const auto& s : r.skipped) std::cerr << "skipped " << s.path << " (" << s.reason << ")\n";
        for (const auto& k : r.not_in_folder)
          std::cerr << "left in the store: s3://" << r.bucket << "/" << k
                    << " (not in the folder, not in the manifest)\n";
        std::cerr << fmt::format("{} {}: {} files uploaded ({}), {} unchanged ({}){}\n",
                                 a->dry_run ? "would push" : "pushed", a->url, r.uploaded.size(), mb(r.bytes_uploaded),
                                 r.unchanged.size(), mb(r.bytes_unchanged),
                                 a->dry_run           ? ""
                                 : r.manifest_written ? ", manifest written"
                                                      : ", manifest unchanged");
      }
      auto files = [](const std::vector<router::S3PushedFile>& v) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& f : v) {
          nlohmann::json j{{"path", f.path}, {"size", f.size}};
          if (f.multipart) j["parts"] = f.parts;
          if (f.resumed_parts > 0) j["resumed_parts"] = f.resumed_parts;
          out.push_back(std::move(j));
        }
        return out;
      };
      nlohmann::json skipped = nlohmann::json::array();
      for (const auto& s : r.skipped) skipped.push_back({{"path", s.path}, {"reason", s.reason}});
      std::cout << json_text(nlohmann::json{{"url", r.url},
                                            {"cid", r.cid},
                                            {"dry_run", a->dry_run},
                                            {"uploaded", files(r.uploaded)},
                                            {"unchanged", files(r.unchanged)},
                                            {"skipped", skipped},
                                            {"not_in_folder", r.not_in_folder},
                                            {"bytes_uploaded", r.bytes_uploaded},
                                            {"bytes_unchanged", r.bytes_unchanged},
                                            {"manifest", "s3://" + r.bucket + "/" + r.manifest_key},
                                            {"manifest_written", r.manifest_written}})
                << "\n";
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
