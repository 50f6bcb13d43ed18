#include "router/model_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <mutex>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "hub/hub.h"
#include "ipfs/exporter.h"
#include "ipfs/gateway_client.h"
#include "ipfs/repo.h"
#include "ipfs/url_redaction.h"
#include "router/model_names.h"
#include "router/s3_model_source.h"

namespace ia::router {

namespace fs = std::filesystem;

namespace {

std::mutex g_mu;
std::vector<std::string> g_gateways;

// "CID…", "ipfs://…" or "/ipfs/…" parsed as an IPFS path; nullopt for anything else.
std::optional<ipfs::IpfsPath> as_ipfs_path(const std::string& text) {
  bool explicit_ipfs = text.rfind("ipfs://", 0) == 0 || text.rfind("/ipfs/", 0) == 0;
  try {
    return ipfs::parse_ipfs_path(text);
  } catch (const Error&) {
    if (explicit_ipfs) throw;  // clearly meant as IPFS: say what is wrong with it
    return std::nullopt;
  }
}

// Exports `cid` to `dest` through a private staging folder that is synced
// before the one rename, so `dest` is either absent or complete, even after a
// crash, and two processes materialising the same model both end up with it.
void materialise(ipfs::Blockstore& store, const ipfs::Cid& cid, const fs::path& dest) {
  fs::path staging = dest.parent_path() / fmt::format(".staging-{}-{}", ::getpid(), dest.filename().string());
  std::error_code ec;
  fs::remove_all(staging, ec);
  fs::create_directories(staging);
  try {
    ipfs::export_to_path(store, cid, staging / "m");
    int fd = ::open(staging.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || ::syncfs(fd) != 0) {
      if (fd >= 0) ::close(fd);
      fail(ErrorKind::Unavailable, "{}: cannot sync the materialised model", staging.string());
    }
    ::close(fd);
    if (::rename((staging / "m").c_str(), dest.c_str()) != 0 && !fs::is_directory(dest, ec)) {
      fail(ErrorKind::Unavailable, "{}: cannot rename into place: {}", dest.string(), std::strerror(errno));
    }
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  fs::remove_all(staging, ec);  // holds our copy when another process won the race
}

}  // namespace

void set_model_gateways(std::vector<std::string> gateways) {
  std::lock_guard lock(g_mu);
  g_gateways = std::move(gateways);
}

std::optional<std::string> resolve_model_source(const std::string& model) {
  if (is_s3_model_url(model)) return resolve_s3_model(model);
  fs::path home = ipfs::default_home();
  std::string target = model;
  if (auto named = ModelNames(home).lookup(model)) target = *named;
  auto path = as_ipfs_path(target);
  if (!path) {
    auto ref = hub::parse_repo_ref(target);
    if (!ref) return std::nullopt;
    return hub::resolve_model(hub::HubSettings::from_env(), *ref).string();
  }

  ipfs::Repo repo(home);
  // Fetches the folder the path names (only it and the blocks proving the path), pinned against `repo gc`.
  auto fetch = [&] {
    ipfs::FetchOptions o;
    {
      std::lock_guard lock(g_mu);
      o.gateways = g_gateways;
    }
    if (o.gateways.empty()) o.gateways = ipfs::gateways_from_env();
    if (o.gateways.empty())
      fail(ErrorKind::NotFound,
           "model {} is not in the local blockstore and no gateway is set (--gateway or IPFS_GATEWAY)", target);
    spdlog::info("fetching model {} from {}", target, ipfs::redact_url(o.gateways.front()));
    ipfs::Cid got = ipfs::fetch_path(path->root, path->path, repo.blocks(), o);
    repo.pin_add(got, true);  // fetched and verified
    return got;
  };
  // The target CID (after the sub-path) names the folder, so two paths to the same content share it.
  ipfs::Cid cid;
  try {
    cid = ipfs::resolve_path(repo.blocks(), path->root, path->path);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::NotFound) throw;
    cid = fetch();
  }
  fs::path dest = home / "models" / cid.to_v1().to_string();
  std::error_code ec;
  if (fs::is_directory(dest, ec)) return dest.string();
  fs::create_directories(dest.parent_path());
  try {
    materialise(repo.blocks(), cid, dest);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::NotFound) throw;
    fetch();  // the root was here but not the whole DAG
    materialise(repo.blocks(), cid, dest);
  }
  if (!fs::is_directory(dest, ec)) {
    fs::remove(dest, ec);
    fail(ErrorKind::InvalidArgument, "{} is a file, not a model folder", model);
  }
  return dest.string();
}

}  // namespace ia::router
