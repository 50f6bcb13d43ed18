// libFuzzer target for what the Hugging Face hub sends before any download:
// the model listing (GET /api/models/{repo}/revision/{rev}) through
// parse_model_info and select_files, and a safetensors index through
// index_shards. Any input must either give names that are safe under a
// snapshot folder (relative, no "." or ".." component) or throw an ia::Error
// of a user kind; anything else (another exception, Internal, a crash or a
// sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/error.h"
#include "hub/model_info.h"
#include "hub/repo_ref.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_user_error(const ia::Error& e) {
  check(e.kind() != ia::ErrorKind::Internal);
}

// Checked here independently of is_safe_repo_filename: no component that could leave the snapshot folder.
void check_name(const std::string& name) {
  check(!name.empty() && name.front() != '/');
  size_t start = 0;
  while (true) {
    const size_t slash = name.find('/', start);
    const std::string part = name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    check(!part.empty() && part != "." && part != "..");
    if (slash == std::string::npos) return;
    start = slash + 1;
  }
}

void check_file(const ia::hub::RepoFile& f) {
  check(ia::hub::is_safe_repo_filename(f.name));
  check_name(f.name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const ia::hub::ModelInfo info = ia::hub::parse_model_info(text, "listing");
    check(ia::hub::is_commit_hash(info.sha));
    check(info.files.size() <= ia::hub::kMaxRepoFiles);
    for (const auto& f : info.files) check_file(f);
    const ia::hub::FileSelection sel = ia::hub::select_files(info);
    for (const auto& f : sel.first) check_file(f);
    for (const auto& f : sel.weights) {
      check_file(f);
      check(f.weights());
    }
  } catch (const ia::Error& e) {
    check_user_error(e);
  }
  try {
    for (const std::string& shard : ia::hub::index_shards(text, "index")) {
      check_name(shard);
      check(shard.find('/') == std::string::npos);
    }
  } catch (const ia::Error& e) {
    check_user_error(e);
  }
  // Model ids and revisions as typed: parsed or refused, never anything else.
  try {
    if (auto ref = ia::hub::parse_repo_ref(text)) check(ia::hub::is_safe_revision(ref->revision));
  } catch (const ia::Error& e) {
    check_user_error(e);
  }
  return 0;
}
