#include "router/s3_model_source.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/logging.h"
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

std::string resolve_s3_model(const std::string& url) {
  auto [bucket, prefix] = providers::parse_s3_url(url);
  if (bucket.empty()) fail(ErrorKind::InvalidArgument, "`{}`: no bucket (s3://bucket/prefix)", url);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (prefix.empty()) fail(ErrorKind::InvalidArgument, "`{}`: name the model's prefix (s3://bucket/prefix)", url);
  for (const auto& part : fs::path(prefix))
    if (part == ".." || part == ".")
      fail(ErrorKind::InvalidArgument, "`{}`: the prefix may not hold `.` or `..` segments", url);
  const std::string list_prefix = prefix + "/";

  providers::S3Pool pool({providers::s3_endpoint_from_env(providers::process_env())});
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
  spdlog::info("downloading model {} ({} files)", url, listing.size());
  fs::create_directories(dest.parent_path());
  const fs::path partial = dest.string() + ".partial-" + std::to_string(::getpid());
  fs::remove_all(partial, ec);
  try {
    providers::s3_download_prefix(pool, bucket, prefix, partial.string());
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
