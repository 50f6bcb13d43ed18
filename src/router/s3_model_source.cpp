#include "router/s3_model_source.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/bounded_json.h"
#include "core/error.h"
#include "core/logging.h"
#include "ipfs/folder_manifest.h"
#include "ipfs/fs_blockstore.h"
#include "providers/s3_client.h"

namespace ia::router {

namespace fs = std::filesystem;

namespace {

constexpr const char* kListingFile = ".s3-listing.json";  // what the folder was downloaded from

// The listing as the folder records it: key (relative to the prefix) -> [size, ETag].
nlohmann::json listing_json(const std::vector<providers::S3Object>& objects, const std::string& prefix) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& o : objects) {
    const std::string rel = o.key.substr(prefix.size());
    if (rel.empty() || rel.back() == '/') continue;
    j[rel] = {o.size, o.etag};
  }
  return j;
}

}  // namespace

bool is_s3_model_url(const std::string& model) {
  return model.rfind("s3://", 0) == 0;
}

std::pair<std::string, std::string> parse_s3_model_url(const std::string& url) {
  auto [bucket, prefix] = providers::parse_s3_url(url);
  if (bucket.empty()) fail(ErrorKind::InvalidArgument, "`{}`: no bucket (s3://bucket/prefix)", url);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (prefix.empty()) fail(ErrorKind::InvalidArgument, "`{}`: name the model's prefix (s3://bucket/prefix)", url);
  for (const auto& part : fs::path(prefix))
    if (part == ".." || part == ".")
      fail(ErrorKind::InvalidArgument, "`{}`: the prefix may not hold `.` or `..` segments", url);
  return {bucket, prefix};
}

namespace {

std::mutex g_s3_mu;
std::vector<std::string> g_s3_urls;
std::string g_s3_file;

}  // namespace

void set_s3_endpoints(std::vector<std::string> urls, std::string providers_file) {
  std::lock_guard lock(g_s3_mu);
  g_s3_urls = std::move(urls);
  g_s3_file = std::move(providers_file);
}

providers::S3PoolConfig s3_pool_config() {
  std::vector<std::string> urls;
  std::string file;
  {
    std::lock_guard lock(g_s3_mu);
    urls = g_s3_urls;
    file = g_s3_file;
  }
  return s3_pool_config_from(urls, file, providers::process_env());
}

providers::S3PoolConfig s3_pool_config_from(const std::vector<std::string>& urls, const std::string& providers_file,
                                            const providers::EnvLookup& env) {
  providers::S3PoolConfig config;
  if (!providers_file.empty()) {
    JsonLimits limits;
    limits.max_bytes = 4u << 20;
    limits.kind = ErrorKind::InvalidArgument;
    const nlohmann::json j =
        parse_json_bounded(read_bounded_file(providers_file, limits.max_bytes), providers_file, limits);
    if (!j.is_object() || !j.contains("s3"))
      fail(ErrorKind::InvalidArgument, "{}: no \"s3\" section (the S3 endpoints; see docs/providers.md)",
           providers_file);
    try {
      config = providers::s3_pool_config_from_json(j["s3"], env);
    } catch (const Error& e) {
      fail(e.kind(), "{}: {}", providers_file, e.what());
    }
  }
  for (const auto& u : urls) config.endpoints.push_back(providers::s3_endpoint_for_url(u, env));
  if (config.endpoints.empty()) config.endpoints.push_back(providers::s3_endpoint_from_env(env));
  return config;
}

std::string resolve_s3_model(const std::string& url) {
  const auto [bucket, prefix] = parse_s3_model_url(url);
  const std::string list_prefix = prefix + "/";

  providers::S3Pool pool(s3_pool_config());
  const std::vector<providers::S3Object> objects =
      pool.with_endpoint([&](providers::S3Client& c) { return c.list(bucket, list_prefix); });
  const nlohmann::json listing = listing_json(objects, list_prefix);
  if (listing.empty()) fail(ErrorKind::NotFound, "{}: no objects under this prefix", url);

  const fs::path dest = ipfs::default_home() / "models" / "s3" / bucket / prefix;
  std::error_code ec;
  if (fs::is_directory(dest, ec)) {
    std::ifstream f(dest / kListingFile);
    const auto kept = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
    if (kept == listing) return dest.string();
    spdlog::info("{}: changed in the store since it was downloaded; downloading it again", url);
  }

  // With a manifest, exactly its files, each as large as it says (else the store is mid-push or damaged).
  const std::string manifest_key = list_prefix + ipfs::kFolderManifestName;
  std::optional<ipfs::FolderManifest> manifest;
  std::string manifest_text;
  std::vector<providers::S3Object> wanted = objects;
  const bool has_manifest =
      std::any_of(objects.begin(), objects.end(), [&](const providers::S3Object& o) { return o.key == manifest_key; });
  if (has_manifest) {
    manifest_text = pool.with_endpoint(
        [&](providers::S3Client& c) { return c.get(bucket, manifest_key, ipfs::kMaxManifestBytes); });
    try {
      manifest = ipfs::parse_folder_manifest(manifest_text);
    } catch (const Error& e) {
      fail(e.kind(), "{}: {} ({})", url, e.what(), ipfs::kFolderManifestName);
    }
    std::map<std::string, const providers::S3Object*> by_key;
    for (const auto& o : objects) by_key[o.key] = &o;
    wanted.clear();
    for (const auto& f : manifest->files) {
      auto it = by_key.find(list_prefix + f.path);
      if (it == by_key.end())
        fail(ErrorKind::Corrupt, "{}: the manifest lists {}, which the store does not hold (a push under way?)", url,
             f.path);
      if (it->second->size != f.size)
        fail(ErrorKind::Corrupt, "{}: {} is {} bytes in the store, the manifest says {} (a push under way?)", url,
             f.path, it->second->size, f.size);
      wanted.push_back(*it->second);
    }
    if (const size_t extra = objects.size() - 1 - wanted.size(); extra > 0)
      spdlog::info("{}: {} objects under the prefix are not in its manifest; not downloaded", url, extra);
  }

  spdlog::info("downloading model {} ({} files)", url, wanted.size());
  fs::create_directories(dest.parent_path());
  const fs::path partial = dest.string() + ".partial-" + std::to_string(::getpid());
  fs::remove_all(partial, ec);
  try {
    providers::s3_download_objects(pool, bucket, list_prefix, wanted, partial.string());
    if (manifest) {
      try {
        ipfs::verify_folder_manifest(partial, *manifest);
      } catch (const Error& e) {
        fail(e.kind(), "{}: {} (the download differs from the store's manifest; nothing was kept)", url, e.what());
      }
      std::ofstream(partial / ipfs::kFolderManifestName, std::ios::binary) << manifest_text;
    }
    std::ofstream(partial / kListingFile) << listing.dump();
    fs::remove_all(dest, ec);  // an older download of this prefix
    fs::rename(partial, dest);
  } catch (...) {
    fs::remove_all(partial, ec);  // nothing half-written stays
    throw;
  }
  return dest.string();
}

}  // namespace ia::router
