#include "hub/hub.h"

#include <sys/statvfs.h>

#include <map>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "core/bounded_json.h"
#include "core/error.h"
#include "hub/http.h"
#include "hub/model_info.h"

namespace ia::hub {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void offline_miss(const HubSettings& settings, const RepoRef& ref) {
  fail(ErrorKind::NotFound,
       "{}: not in the Hugging Face cache ({}) and HF_HUB_OFFLINE is set, so it is not downloaded; run "
       "`ipfs-accelerate pull {}` where the hub can be reached, or unset HF_HUB_OFFLINE",
       ref.str(), settings.cache_dir.string(), ref.str());
}

// Refuses a download that cannot fit: the bytes still missing against the free space of the cache.
void check_space(const fs::path& dir, const std::vector<RepoFile>& files, const RepoCache& cache,
                 const std::string& commit) {
  uint64_t need = 0;
  for (const RepoFile& f : files)
    if (f.size && !cache.has_file(commit, f.name)) need += *f.size;
  struct statvfs st {};
  if (need == 0 || ::statvfs(dir.c_str(), &st) != 0) return;
  const uint64_t free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  if (need > free_bytes)
    fail(ErrorKind::Unavailable, "the model needs {:.1f} GB more in {} and {:.1f} GB are free",
         static_cast<double>(need) / 1e9, dir.string(), static_cast<double>(free_bytes) / 1e9);
}

}  // namespace

PullResult pull(const HubSettings& settings, const RepoRef& ref) {
  RepoCache cache(settings.cache_dir, ref.repo);
  if (settings.offline) {
    auto snap = cache.find_snapshot(ref);
    if (!snap) offline_miss(settings, ref);
    PullResult r;
    r.snapshot = *snap;
    r.commit = snap->filename().string();
    for (const auto& e : fs::recursive_directory_iterator(*snap))
      if (!e.is_directory()) ++r.files;
    return r;
  }
  Downloader dl(settings, ref.repo);
  const std::string listing = fmt::format("{} at {}", ref.str(), redact_url(settings.endpoint));
  const ModelInfo info = parse_model_info(dl.model_info_json(ref.revision), listing);
  if (is_commit_hash(ref.revision) && info.sha != ref.revision)
    fail(ErrorKind::Corrupt, "{}: asked for commit {}, the hub listed {}", listing, ref.revision, info.sha);
  FileSelection sel = select_files(info);
  if (sel.weights.empty() && !sel.index && !sel.other_formats.empty())
    fail(ErrorKind::Unsupported, "{}: no *.safetensors weights (only {}); ipfs-accelerate loads safetensors", ref.str(),
         fmt::to_string(fmt::join(sel.other_formats, ", ")));

  PullResult r;
  r.commit = info.sha;
  r.snapshot = cache.snapshot(info.sha);
  fs::create_directories(r.snapshot);
  auto fetch_all = [&](const std::vector<RepoFile>& files) {
    check_space(settings.cache_dir, files, cache, info.sha);
    for (const RepoFile& f : files) {
      ++r.files;
      if (cache.has_file(info.sha, f.name)) continue;
      r.bytes += dl.fetch(info.sha, f);
      ++r.downloaded;
    }
  };
  fetch_all(sel.first);
  if (sel.index) {
    // The shards come from the index: only those, not every *.safetensors of the folder.
    std::map<std::string, const RepoFile*> by_name;
    for (const RepoFile& f : info.files) by_name[f.name] = &f;
    const fs::path index = r.snapshot / sel.index->name;
    for (const std::string& shard :
         index_shards(read_bounded_file(index.string(), kMaxModelInfoBytes), ref.str() + ": " + sel.index->name)) {
      auto it = by_name.find(shard);
      if (it == by_name.end())
        fail(ErrorKind::Corrupt, "{}: the safetensors index names {}, which the repository does not have", ref.str(),
             shard);
      sel.weights.push_back(*it->second);
    }
  }
  fetch_all(sel.weights);
  cache.write_ref(ref.revision, info.sha);
  spdlog::info("{}: snapshot {} ({} files, {} downloaded)", ref.str(), r.snapshot.string(), r.files, r.downloaded);
  return r;
}

fs::path resolve_model(const HubSettings& settings, const RepoRef& ref) {
  RepoCache cache(settings.cache_dir, ref.repo);
  if (auto snap = cache.find_snapshot(ref)) {
    if (settings.offline || snapshot_looks_complete(*snap)) return *snap;
    spdlog::info("{}: the cached snapshot {} is incomplete; fetching the rest", ref.str(), snap->string());
  } else if (settings.offline) {
    offline_miss(settings, ref);
  }
  return pull(settings, ref).snapshot;
}

}  // namespace ia::hub
