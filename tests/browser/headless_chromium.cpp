#include "browser/headless_chromium.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>

#include "integration/cli_runner.h"

namespace ia::test {

namespace {

namespace fs = std::filesystem;

// Listens on 127.0.0.1 at a free port; writes down the first line of each request and answers 403.
class RecordingProxy {
 public:
  RecordingProxy() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 64) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("the recording proxy cannot listen");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~RecordingProxy() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      timeval tv{2, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string head;
      char buf[1024];
      while (head.find("\r\n") == std::string::npos && head.size() < 8192) {
        const ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(head.substr(0, head.find("\r\n")));
      }
      const std::string answer = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      close(c);
    }
  }

  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The host of a proxy request line: "CONNECT host:443 HTTP/1.1", "GET http://host:port/path HTTP/1.1".
std::string host_of(const std::string& line) {
  std::istringstream in(line);
  std::string method, target;
  in >> method >> target;
  if (const size_t scheme = target.find("://"); scheme != std::string::npos) target = target.substr(scheme + 3);
  target = target.substr(0, target.find_first_of("/?"));
  return target.substr(0, target.rfind(':') == std::string::npos ? target.size() : target.rfind(':'));
}

}  // namespace

std::string find_chromium() {
  if (const char* e = std::getenv("IA_CHROMIUM"); e && *e) return access(e, X_OK) == 0 ? e : "";
  if (const char* path = std::getenv("PATH")) {
    std::istringstream dirs(path);
    for (std::string d; std::getline(dirs, d, ':');)
      for (const char* name : {"chromium", "chromium-browser"}) {
        const std::string candidate = d + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
      }
  }
  return "";
}

std::vector<std::string> ChromiumRun::page_requests() const {
  std::vector<std::string> out;
  for (const std::string& r : requests) {
    const std::string host = host_of(r);
    if (!ends_with(host, ".google.com") && !ends_with(host, ".googleapis.com") && !ends_with(host, ".gvt1.com"))
      out.push_back(r);
  }
  return out;
}

ChromiumRun run_chromium(const std::string& chromium, const std::string& url, const std::vector<std::string>& args,
                         bool proxy_loopback, int timeout_s) {
  TempDir dir;
  RecordingProxy proxy;
  const std::string profile = dir.path() + "/profile", out = dir.path() + "/out", err = dir.path() + "/err";
  fs::create_directories(profile);
  std::vector<std::string> argv{chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                                "--disable-sync",
                                // Docker gives /dev/shm 64 MB, too little for a tall screenshot.
                                "--disable-dev-shm-usage", "--user-data-dir=" + profile,
                                "--proxy-server=http://127.0.0.1:" + std::to_string(proxy.port())};
  if (proxy_loopback) argv.push_back("--proxy-bypass-list=<-loopback>");
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(url);

  ChromiumRun run;
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // its renderer and helpers with it, so a timeout stops them all
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || in < 0) _exit(126);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> a;
    for (const std::string& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  if (pid < 0) return run;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      run.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid, SIGKILL);  // helpers the browser left behind, if any (the group is ours)
  run.out = read_file(out);
  run.err = read_file(err);
  run.requests = proxy.requests();
  return run;
}

}  // namespace ia::test
