#pragma once
// The name → CID registry behind `ipfs-accelerate models add|list|rm` and
// `--model NAME`: a small JSON object in $IPFS_ACCELERATE_HOME/models.json,
// rewritten atomically (temporary file + fsync + rename) on every change so a
// reader never sees half a file.
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace ia::router {

class ModelNames {
 public:
  explicit ModelNames(std::filesystem::path home);

  // name → "CID" or "CID/sub/path", sorted by name.
  std::map<std::string, std::string> list() const;
  std::optional<std::string> lookup(const std::string& name) const;
  // Adds or replaces. Throws ia::Error(InvalidArgument) for a name that could
  // be mistaken for a path or a CID (empty, '/', leading '.' or "ipfs:").
  void set(const std::string& name, const std::string& target);
  // Returns false when the name was not registered.
  bool remove(const std::string& name);

  const std::filesystem::path& file() const { return file_; }

 private:
  void save(const std::map<std::string, std::string>& names) const;
  std::filesystem::path file_;
};

}  // namespace ia::router
