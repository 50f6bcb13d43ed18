#pragma once
// Runs the ipfs-accelerate binary as a user would and captures what it prints.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ia::test {

struct CliResult {
  int status = -1;
  std::string out;
  std::string err;
  // Lines of stderr that are not empty.
  std::vector<std::string> err_lines() const;
};

CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "");

// A bad-input failure as users must see it: exit status 2, nothing on stdout, and
// exactly one stderr line that starts with the error prefix and mentions `needle`.
void expect_user_error(const CliResult& r, const std::string& needle);

// A fresh empty directory under the system temp dir, removed by the caller's TempDir.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Sets (or unsets) variables for the CLI processes run_cli starts, restoring them on scope exit.
class ScopedEnvVars {
 public:
  ScopedEnvVars() = default;
  ScopedEnvVars(const ScopedEnvVars&) = delete;
  ScopedEnvVars& operator=(const ScopedEnvVars&) = delete;
  ~ScopedEnvVars();
  void set(const std::string& name, const std::string& value);
  void unset(const std::string& name);

 private:
  void save(const std::string& name);
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);
// Copies a fixture model folder into `dest` (writable copy).
void copy_model(const std::string& family, const std::string& dest);

}  // namespace ia::test
