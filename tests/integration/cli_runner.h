#pragma once
// Runs the ipfs-accelerate binary as a user would and captures what it prints.
#include <string>
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

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);
// Copies a fixture model folder into `dest` (writable copy).
void copy_model(const std::string& family, const std::string& dest);

}  // namespace ia::test
