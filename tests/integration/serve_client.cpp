#include "integration/serve_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <regex>

#include "integration/cli_runner.h"

namespace ia::test {

ServeProcess::ServeProcess(const std::vector<std::string>& args,
                           const std::vector<std::pair<std::string, std::string>>& env) {
  log_path_ = dir_.path() + "/serve.log";
  std::vector<std::string> argv{IA_CLI_PATH, "serve", "--port", "0"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto full_env = env;
  bool has_home = false;
  for (const auto& [k, v] : env) has_home |= k == "IPFS_ACCELERATE_HOME";
  if (!has_home) full_env.emplace_back("IPFS_ACCELERATE_HOME", dir_.path() + "/home");
  process_ = std::make_unique<Process>(argv, log_path_, "", full_env);
  const std::string out = wait_for(log_path_, "ready on http://", 60);
  std::smatch m;
  if (std::regex_search(out, m, std::regex(R"(ready on (http://([0-9.]+):([0-9]+)))"))) {
    url_ = m[1];
    host_ = m[2];
    port_ = std::stoi(m[3]);
  }
}

std::string ServeProcess::log() const {
  return read_file(log_path_);
}

int ServeProcess::terminate() {
  return process_->kill(SIGTERM);
}

httplib::Client ServeProcess::client() const {
  httplib::Client c(host_, port_);
  c.set_read_timeout(60, 0);
  c.set_write_timeout(60, 0);
  return c;
}

namespace {

HttpAnswer answer_of(const httplib::Result& r) {
  HttpAnswer a;
  if (!r) return a;
  a.status = r->status;
  a.body = r->body;
  a.headers = r->headers;
  return a;
}

}  // namespace

HttpAnswer post_json(const ServeProcess& s, const std::string& path, const std::string& body,
                     const httplib::Headers& headers) {
  auto c = s.client();
  return answer_of(c.Post(path.c_str(), headers, body, "application/json"));
}

HttpAnswer get(const ServeProcess& s, const std::string& path, const httplib::Headers& headers) {
  auto c = s.client();
  return answer_of(c.Get(path.c_str(), headers));
}

SseAnswer post_stream(const ServeProcess& s, const std::string& path, const std::string& body, size_t stop_after) {
  SseAnswer out;
  auto c = s.client();
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  std::string pending;
  req.response_handler = [&](const httplib::Response& res) {
    out.status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    out.raw.append(data, n);
    pending.append(data, n);
    for (size_t end; (end = pending.find("\n\n")) != std::string::npos;) {
      const std::string event = pending.substr(0, end);
      pending.erase(0, end + 2);
      if (event.rfind("data: ", 0) == 0) out.events.push_back(event.substr(6));
      if (stop_after > 0 && out.events.size() >= stop_after) return false;
    }
    return true;
  };
  httplib::Response res;
  httplib::Error error;
  c.send(req, res, error);
  if (out.status == 0) out.status = res.status;
  if (error != httplib::Error::Success) out.error = httplib::to_string(error);
  return out;
}

double metric_value(const ServeProcess& s, const std::string& series) {
  const HttpAnswer a = get(s, "/metrics");
  for (size_t at = 0; (at = a.body.find(series + " ", at)) != std::string::npos; ++at)
    if (at == 0 || a.body[at - 1] == '\n') return std::atof(a.body.c_str() + at + series.size() + 1);
  return -1;
}

RawConnection::RawConnection(const std::string& host, int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) close();
}

RawConnection::~RawConnection() {
  close();
}

bool RawConnection::send_all(const std::string& bytes) {
  size_t sent = 0;
  while (fd_ >= 0 && sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return fd_ >= 0;
}

std::string RawConnection::read_for(int ms) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (fd_ >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string http_post_request(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace ia::test
