#include "hub/cache.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/bounded_json.h"
#include "core/error.h"
#include "hub/model_info.h"

namespace ia::hub {

namespace fs = std::filesystem;

namespace {

const char* nonempty(const GetEnv& getenv, const char* name) {
  const char* v = getenv(name);
  return v && *v ? v : nullptr;
}

fs::path expand_home(const std::string& p, const GetEnv& getenv) {
  if (p == "~" || p.rfind("~/", 0) == 0) {
    const char* home = nonempty(getenv, "HOME");
    if (home) return fs::path(home) / p.substr(p.size() > 1 ? 2 : 1);
  }
  return p;
}

// The first line of a small file, trimmed; "" when it cannot be read.
std::string first_line(const fs::path& file, size_t max_bytes) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "";
  std::string line(max_bytes, '\0');
  in.read(line.data(), static_cast<std::streamsize>(max_bytes));
  line.resize(static_cast<size_t>(in.gcount()));
  line = line.substr(0, line.find('\n'));
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.erase(line.begin());
  return line;
}

fs::path hf_home(const GetEnv& getenv) {
  if (const char* h = nonempty(getenv, "HF_HOME")) return expand_home(h, getenv);
  if (const char* x = nonempty(getenv, "XDG_CACHE_HOME")) return expand_home(x, getenv) / "huggingface";
  return expand_home("~/.cache", getenv) / "huggingface";
}

// Writes `text` to `file` through a temporary name renamed over it.
void write_atomically(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  fs::path tmp = file;
  tmp += fmt::format(".tmp-{}", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) fail(ErrorKind::Unavailable, "{}: cannot write", tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    fail(ErrorKind::Unavailable, "{}: cannot write", file.string());
  }
}

}  // namespace

bool env_true(const char* value) {
  if (!value) return false;
  std::string v(value);
  for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

fs::path hub_cache_dir(const GetEnv& getenv) {
  if (const char* c = nonempty(getenv, "HF_HUB_CACHE")) return expand_home(c, getenv);
  return hf_home(getenv) / "hub";
}

HubSettings HubSettings::from_env(const GetEnv& getenv) {
  HubSettings s;
  s.cache_dir = hub_cache_dir(getenv);
  if (const char* e = nonempty(getenv, "HF_ENDPOINT")) {
    s.endpoint = e;
    while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
    if (s.endpoint.rfind("http://", 0) != 0 && s.endpoint.rfind("https://", 0) != 0)
      fail(ErrorKind::InvalidArgument, "HF_ENDPOINT must be an http:// or https:// URL");
  }
  if (const char* t = nonempty(getenv, "HF_TOKEN")) {
    s.token = t;
  } else if (const char* legacy = nonempty(getenv, "HUGGING_FACE_HUB_TOKEN")) {
    s.token = legacy;
  } else {
    const char* path = nonempty(getenv, "HF_TOKEN_PATH");
    s.token = first_line(path ? expand_home(path, getenv) : hf_home(getenv) / "token", 4096);
  }
  for (char c : s.token)
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f)
      fail(ErrorKind::InvalidArgument, "the Hugging Face token has a space or control character");
  s.offline = env_true(getenv("HF_HUB_OFFLINE"));
  if (const char* t = nonempty(getenv, "HF_HUB_DOWNLOAD_TIMEOUT")) {
    char* end = nullptr;
    const long v = std::strtol(t, &end, 10);
    if (end && *end == '\0' && v > 0 && v <= 3600) s.stall_timeout_s = v;
  }
  return s;
}

HubSettings HubSettings::from_env() {
  return from_env([](const char* name) { return std::getenv(name); });
}

std::string repo_folder_name(const std::string& repo) {
  std::string out = "models--";
  for (char c : repo) {
    if (c == '/')
      out += "--";
    else
      out += c;
  }
  return out;
}

RepoCache::RepoCache(fs::path cache_dir, const std::string& repo)
    : cache_dir_(std::move(cache_dir)), dir_(cache_dir_ / repo_folder_name(repo)), folder_(repo_folder_name(repo)) {}

fs::path RepoCache::lock_file(const std::string& etag) const {
  return cache_dir_ / ".locks" / folder_ / (etag + ".lock");
}

std::optional<std::string> RepoCache::commit_of(const std::string& revision) const {
  if (is_commit_hash(revision)) return revision;
  if (!is_safe_revision(revision)) return std::nullopt;
  const fs::path ref = dir_ / "refs" / revision;
  std::error_code ec;
  if (!fs::is_regular_file(ref, ec)) return std::nullopt;
  std::string commit = first_line(ref, 128);
  if (!is_commit_hash(commit))
    fail(ErrorKind::Corrupt, "{}: not a commit hash (remove the file to fetch the revision again)", ref.string());
  return commit;
}

void RepoCache::write_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit) return;
  IA_CHECK(is_safe_revision(revision) && is_commit_hash(commit), "write_ref: bad revision or commit");
  write_atomically(dir_ / "refs" / revision, commit);
}

std::optional<fs::path> RepoCache::find_snapshot(const RepoRef& ref) const {
  auto commit = commit_of(ref.revision);
  if (!commit) return std::nullopt;
  std::error_code ec;
  fs::path dir = snapshot(*commit);
  if (!fs::is_directory(dir, ec)) return std::nullopt;
  return dir;
}

bool RepoCache::has_file(const std::string& commit, const std::string& file) const {
  std::error_code ec;
  return fs::is_regular_file(snapshot(commit) / file, ec);  // follows the link to its blob
}

void RepoCache::link(const std::string& commit, const std::string& file, const std::string& etag) const {
  const fs::path dst = snapshot(commit) / file;
  fs::create_directories(dst.parent_path());
  // From snapshots/<commit>/<dirs of file>/ up to the repository folder.
  std::string up = "../../";
  for (char c : file)
    if (c == '/') up += "../";
  const fs::path target = up + "blobs/" + etag;
  std::error_code ec;
  if (fs::is_symlink(fs::symlink_status(dst, ec)) && fs::read_symlink(dst, ec) == target) return;
  fs::path tmp = dst;
  tmp += fmt::format(".link-{}", ::getpid());
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp);
  fs::rename(tmp, dst, ec);
  if (ec) {
    fs::remove(tmp, ec);
    fail(ErrorKind::Unavailable, "{}: cannot link into the snapshot", dst.string());
  }
}

bool in_cache_snapshot(const fs::path& path) {
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec).lexically_normal();
  if (ec) return false;
  std::vector<std::string> parts;
  for (const fs::path& p : abs) parts.push_back(p.string());
  for (size_t i = 1; i + 1 < parts.size(); ++i)
    if (parts[i] == "snapshots" && parts[i - 1].rfind("models--", 0) == 0 && is_commit_hash(parts[i + 1])) return true;
  return false;
}

bool snapshot_looks_complete(const fs::path& snapshot) {
  std::error_code ec;
  if (!fs::is_regular_file(snapshot / "config.json", ec)) return false;
  const fs::path index = snapshot / "model.safetensors.index.json";
  if (fs::is_regular_file(index, ec)) {
    try {
      for (const std::string& shard :
           index_shards(read_bounded_file(index.string(), kMaxModelInfoBytes), index.string()))
        if (!fs::is_regular_file(snapshot / shard, ec)) return false;
      return true;
    } catch (const Error&) {
      return false;
    }
  }
  for (const auto& e : fs::directory_iterator(snapshot, ec))
    if (e.path().extension() == ".safetensors" && fs::is_regular_file(e.path(), ec)) return true;
  return false;
}

}  // namespace ia::hub
