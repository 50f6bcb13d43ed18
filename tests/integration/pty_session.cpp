#include "integration/pty_session.h"

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace ia::test {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
}  // namespace

PtySession::PtySession(const std::vector<std::string>& args) {
  // Everything exec needs is built before the fork.
  std::vector<std::string> strings = {IA_CLI_PATH};
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "TERM=", 5) != 0) env_strings.emplace_back(*e);
  env_strings.emplace_back("TERM=xterm");
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  winsize ws{};
  ws.ws_row = 24;
  ws.ws_col = 200;
  pid_ = forkpty(&fd_, nullptr, nullptr, &ws);
  if (pid_ < 0) throw std::runtime_error(std::string("forkpty: ") + std::strerror(errno));
  if (pid_ == 0) {
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
}

PtySession::~PtySession() {
  if (status_ < 0 && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (fd_ >= 0) close(fd_);
}

void PtySession::type(const std::string& keys) {
  size_t done = 0;
  while (done < keys.size()) {
    const ssize_t n = write(fd_, keys.data() + done, keys.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("pty write: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

bool PtySession::read_some(double timeout_s) {
  pollfd p{fd_, POLLIN, 0};
  const int r = poll(&p, 1, static_cast<int>(timeout_s * 1000));
  if (r <= 0) return true;
  char buf[4096];
  const ssize_t n = read(fd_, buf, sizeof buf);
  if (n < 0 && errno == EINTR) return true;
  if (n <= 0) return false;  // EIO: every process of the terminal closed it
  out_.append(buf, static_cast<size_t>(n));
  return true;
}

bool PtySession::expect(const std::string& needle, double timeout_s) {
  const auto t0 = Clock::now();
  for (;;) {
    const size_t at = out_.find(needle, matched_);
    if (at != std::string::npos) {
      matched_ = at + needle.size();
      return true;
    }
    const double left = timeout_s - seconds_since(t0);
    if (left <= 0 || !read_some(std::min(left, 0.2))) return false;
  }
}

int PtySession::wait(double timeout_s) {
  const auto t0 = Clock::now();
  while (status_ < 0) {
    int raw = 0;
    const pid_t got = waitpid(pid_, &raw, WNOHANG);
    if (got == pid_) {
      status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
      break;
    }
    if (seconds_since(t0) > timeout_s) return -1;
    if (!read_some(0.05)) usleep(10000);
  }
  for (;;) {  // what it wrote before it ended
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0 || !read_some(0)) break;
  }
  return status_;
}

}  // namespace ia::test
