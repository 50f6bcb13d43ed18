#pragma once
// One file of a model revision into the cache, as huggingface_hub does it:
// HEAD {endpoint}/{repo}/resolve/{commit}/{file} (following only relative
// redirects: a renamed repository) gives X-Repo-Commit, the ETag (X-Linked-Etag
// for an LFS file, whose answer is a redirect to a CDN) and the size; the
// bytes go to blobs/<etag>.incomplete (resumed with a Range request when one
// is there), are verified (an LFS file's sha256 and a git file's blob sha1 are
// its ETag) and only then renamed to blobs/<etag>; the snapshot gets a link.
// The Authorization header goes only to the endpoint's own origin, never to
// the host a redirect names. Each file's transfer is a ProgressTask
// (core/progress.h) labelled "downloading org/name: file".
#include <cstdint>
#include <optional>
#include <string>

#include "core/progress.h"
#include "hub/cache.h"
#include "hub/http.h"
#include "hub/model_info.h"

namespace ia::hub {

// Attempts per file (each resumes where the previous one stopped).
inline constexpr int kDownloadAttempts = 3;
inline constexpr int kMaxRedirects = 5;

class Downloader {
 public:
  Downloader(const HubSettings& settings, const std::string& repo);

  // GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true, at most
  // kMaxModelInfoBytes. NotFound for a missing repository or revision (naming
  // HF_TOKEN for a private or gated one), Unavailable when the hub cannot be reached.
  std::string model_info_json(const std::string& revision);

  // `file` of `commit` into the cache; returns the bytes transferred (0 when the
  // blob was already there). Corrupt when the bytes do not match the ETag (the
  // partial file is removed), Unavailable when the transfer keeps failing (the
  // partial file stays for the next run to resume).
  uint64_t fetch(const std::string& commit, const RepoFile& file);

  const RepoCache& cache() const { return cache_; }

 private:
  struct Target;
  std::vector<std::string> headers_for(const std::string& url) const;
  HttpResponse head(const std::string& url, std::string& final_url);
  Target locate(const std::string& commit, const RepoFile& file);
  bool transfer(const Target& t, const std::string& incomplete, uint64_t& got, std::string& why,
                std::optional<ProgressTask>& progress);

  const HubSettings& settings_;
  std::string repo_, origin_;
  RepoCache cache_;
  HttpClient http_;
};

}  // namespace ia::hub
