#include "integration/cli_runner.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ia::test {

namespace fs = std::filesystem;

namespace {
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}
}  // namespace

std::vector<std::string> CliResult::err_lines() const {
  std::vector<std::string> lines;
  std::istringstream in(err);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text) {
  TempDir tmp;
  std::string in = tmp.path() + "/stdin", out = tmp.path() + "/stdout", err = tmp.path() + "/stderr";
  write_file(in, stdin_text);
  std::string cmd = shell_quote(IA_CLI_PATH);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " <" + shell_quote(in) + " >" + shell_quote(out) + " 2>" + shell_quote(err);
  int raw = std::system(cmd.c_str());
  CliResult r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

void expect_user_error(const CliResult& r, const std::string& needle) {
  EXPECT_EQ(r.status, 2) << "stdout: " << r.out << "\nstderr: " << r.err;
  auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("ipfs-accelerate: error: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(needle), std::string::npos) << "expected \"" << needle << "\" in: " << lines[0];
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TempDir::TempDir() {
  std::string templ = (fs::temp_directory_path() / "ia-test-XXXXXX").string();
  if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void ScopedEnvVars::save(const std::string& name) {
  const char* old = std::getenv(name.c_str());
  saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
}

void ScopedEnvVars::set(const std::string& name, const std::string& value) {
  save(name);
  ::setenv(name.c_str(), value.c_str(), 1);
}

void ScopedEnvVars::unset(const std::string& name) {
  save(name);
  ::unsetenv(name.c_str());
}

ScopedEnvVars::~ScopedEnvVars() {
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
    if (it->second)
      ::setenv(it->first.c_str(), it->second->c_str(), 1);
    else
      ::unsetenv(it->first.c_str());
  }
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

void copy_model(const std::string& family, const std::string& dest) {
  fs::copy(std::string(IA_FIXTURES_DIR) + "/models/" + family, dest,
           fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  for (const auto& e : fs::recursive_directory_iterator(dest)) {
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  }
}

}  // namespace ia::test
