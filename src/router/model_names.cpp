#include "router/model_names.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "ipfs/fs_blockstore.h"

namespace ia::router {

namespace fs = std::filesystem;

namespace {

// Serialises read-modify-write between processes (two `models add` at once).
class FileLock {
 public:
  explicit FileLock(const fs::path& registry) {
    fs::create_directories(registry.parent_path());
    fs::path p = registry;
    p += ".lock";
    fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0) fail(ErrorKind::Unavailable, "{}: cannot lock", p.string());
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace

ModelNames::ModelNames(fs::path home) : file_(std::move(home) / "models.json") {}

std::map<std::string, std::string> ModelNames::list() const {
  std::map<std::string, std::string> out;
  std::ifstream in(file_);
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail(ErrorKind::Corrupt, "{}: not a JSON object", file_.string());
  for (const auto& [name, target] : j.items()) {
    if (target.is_string()) out[name] = target.get<std::string>();
  }
  return out;
}

std::optional<std::string> ModelNames::lookup(const std::string& name) const {
  auto names = list();
  auto it = names.find(name);
  if (it == names.end()) return std::nullopt;
  return it->second;
}

void ModelNames::set(const std::string& name, const std::string& target) {
  if (name.empty() || name.find('/') != std::string::npos || name[0] == '.' || name.rfind("ipfs:", 0) == 0)
    fail(ErrorKind::InvalidArgument, "\"{}\" cannot be a model name (no '/', no leading '.', not ipfs:)", name);
  FileLock lock(file_);
  auto names = list();
  names[name] = target;
  save(names);
}

bool ModelNames::remove(const std::string& name) {
  FileLock lock(file_);
  auto names = list();
  if (!names.erase(name)) return false;
  save(names);
  return true;
}

void ModelNames::save(const std::map<std::string, std::string>& names) const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [n, t] : names) j[n] = t;
  fs::create_directories(file_.parent_path());
  ipfs::write_file_atomic(file_, j.dump(2) + "\n");
}

}  // namespace ia::router
