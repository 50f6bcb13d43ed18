#pragma once
// Hugging Face model ids to local folders: a revision's snapshot in the
// Hugging Face cache (cache.h), downloaded from the hub (download.h) when it
// is not there, so `--model org/name` works as transformers'
// from_pretrained("org/name") does and shares its cache.
#include <cstdint>
#include <filesystem>
#include <string>

#include "hub/cache.h"
#include "hub/download.h"
#include "hub/repo_ref.h"

namespace ia::hub {

struct PullResult {
  std::filesystem::path snapshot;
  std::string commit;
  size_t files = 0;       // files of the snapshot the runtime uses
  size_t downloaded = 0;  // of them, fetched by this call
  uint64_t bytes = 0;     // bytes transferred
};

// Lists the revision on the hub and downloads what the runtime needs of it
// (model_info.h's select_files) that the cache lacks, then points
// refs/<revision> at its commit. With HF_HUB_OFFLINE, answers from the cache
// alone: NotFound when the revision is not there.
PullResult pull(const HubSettings& settings, const RepoRef& ref);

// The snapshot folder for `--model`: the cached one when it is complete (no
// network at all), else pull()'s. With HF_HUB_OFFLINE any cached snapshot of
// the revision is used and a missing one is NotFound.
std::filesystem::path resolve_model(const HubSettings& settings, const RepoRef& ref);

}  // namespace ia::hub
