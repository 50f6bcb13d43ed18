#include "integration/ipfs_processes.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "integration/cli_runner.h"

namespace ia::test {

namespace fs = std::filesystem;

Process::Process(const std::vector<std::string>& argv, const std::string& log, const std::string& cwd,
                 const std::vector<std::pair<std::string, std::string>>& env) {
  pid_ = ::fork();
  if (pid_ == 0) {
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(127);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    FILE* f = std::freopen(log.c_str(), "w", stdout);
    if (!f || ::dup2(::fileno(stdout), 2) < 0) ::_exit(127);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
}

Process::~Process() {
  kill(SIGTERM);
}

int Process::kill(int sig) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

std::string wait_for(const std::string& log, const std::string& needle, int seconds) {
  for (int i = 0; i < seconds * 20; ++i) {
    std::string s = read_file(log);
    if (s.find(needle) != std::string::npos) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return read_file(log);
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::pair<int, std::string> sh(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string start_our_gateway(const std::string& home, const std::string& log, std::unique_ptr<Process>& proc) {
  proc = std::make_unique<Process>(std::vector<std::string>{IA_CLI_PATH, "ipfs", "serve", "--port", "0"}, log, "",
                                   std::vector<std::pair<std::string, std::string>>{{"IPFS_ACCELERATE_HOME", home}});
  std::string out = wait_for(log, "listening on http://");
  size_t at = out.find("http://");
  if (at == std::string::npos) return "";
  return out.substr(at, out.find('\n', at) - at);
}

std::string install_reference_peer(const std::string& dir) {
  fs::path shared = fs::path(IA_FIXTURES_DIR) / ".." / ".." / ".." / "shared" / "tools" / "ipfs-ref-gateway";
  if (!fs::exists(shared / "gateway.mjs")) return "reference peer not found at " + shared.string();
  if (sh("node --version >/dev/null 2>&1 && npm --version >/dev/null 2>&1").first != 0) return "node/npm not installed";
  fs::copy(shared, dir, fs::copy_options::recursive);
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  }
  fs::remove_all(dir + "/node_modules");
  auto [st, out] = sh("cd '" + dir + "' && npm ci --no-audit --no-fund >/dev/null 2>&1; echo $?");
  if (out.rfind("0", 0) != 0) return "npm ci failed in " + dir + " (offline?)";
  return "";
}

}  // namespace ia::test
