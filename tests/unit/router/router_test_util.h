#pragma once
// What the router tests share: the fixture models folder and a temporary folder.
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace ipfs_accelerate::test {

inline const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models";

// A fresh folder under the system temp dir, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "ia-router-XXXXXX").string();
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ipfs_accelerate::test
