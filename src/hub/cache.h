#pragma once
// The Hugging Face cache as huggingface_hub lays it out, so a model fetched
// here is found by transformers and the other way round:
//
//   <cache>/models--org--name/refs/<revision>        the commit hash the revision pointed to
//   <cache>/models--org--name/blobs/<etag>           file contents, named by ETag (git sha1 or LFS sha256)
//   <cache>/models--org--name/snapshots/<commit>/F   a relative symlink to ../../blobs/<etag>
//   <cache>/.locks/models--org--name/<etag>.lock     held while a blob downloads
//
// <cache> is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
// else ~/.cache/huggingface/hub.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "hub/repo_ref.h"

namespace ia::hub {

// How the environment reads a variable (std::getenv; tests pass their own).
using GetEnv = std::function<const char*(const char*)>;

struct HubSettings {
  std::filesystem::path cache_dir;
  std::string endpoint = "https://huggingface.co";  // $HF_ENDPOINT, no trailing '/'
  std::string token;                                // $HF_TOKEN, else the token file; empty: none
  bool offline = false;                             // $HF_HUB_OFFLINE: never touch the network
  long stall_timeout_s = 30;                        // $HF_HUB_DOWNLOAD_TIMEOUT: a transfer idle this long fails

  // The settings huggingface_hub would take from this environment. Throws
  // InvalidArgument for an HF_ENDPOINT that is not an http(s) URL.
  static HubSettings from_env(const GetEnv& getenv);
  static HubSettings from_env();
};

// The cache folder the environment names (see above); the home folder comes from $HOME.
std::filesystem::path hub_cache_dir(const GetEnv& getenv);

// huggingface_hub's truthy values of an environment variable: 1, ON, YES, TRUE (any case).
bool env_true(const char* value);

// "models--org--name" for "org/name".
std::string repo_folder_name(const std::string& repo);

// One repository's folder in the cache.
class RepoCache {
 public:
  RepoCache(std::filesystem::path cache_dir, const std::string& repo);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path blob(const std::string& etag) const { return dir_ / "blobs" / etag; }
  std::filesystem::path snapshot(const std::string& commit) const { return dir_ / "snapshots" / commit; }
  std::filesystem::path lock_file(const std::string& etag) const;

  // The commit refs/<revision> holds (a commit hash stands for itself); nullopt
  // when there is no such ref. Corrupt when the ref holds something else.
  std::optional<std::string> commit_of(const std::string& revision) const;
  // Writes refs/<revision> (atomically: a temporary file renamed over it).
  void write_ref(const std::string& revision, const std::string& commit) const;

  // The snapshot folder of `ref` when the cache has one.
  std::optional<std::filesystem::path> find_snapshot(const RepoRef& ref) const;

  // Whether snapshots/<commit>/<file> resolves to a regular file.
  bool has_file(const std::string& commit, const std::string& file) const;
  // snapshots/<commit>/<file> -> ../../blobs/<etag> (one more ".." per folder of
  // `file`), replacing whatever was there in one rename.
  void link(const std::string& commit, const std::string& file, const std::string& etag) const;

 private:
  std::filesystem::path cache_dir_, dir_;
  std::string folder_;
};

// Whether `path` is, or is inside, a snapshot folder of a Hugging Face cache
// (.../models--org--name/snapshots/<commit>[/...]), judged by its path as
// given (absolute, without resolving links: they are what makes it one).
bool in_cache_snapshot(const std::filesystem::path& path);

// What a runnable snapshot holds: config.json and its weights (every shard the
// safetensors index names, else a *.safetensors file). A snapshot another tool
// left half-filled (config.json only) is not complete.
bool snapshot_looks_complete(const std::filesystem::path& snapshot);

}  // namespace ia::hub
