#pragma once
// Helpers for the `serve` tests: the server as a background process on a free
// loopback port, and the few kinds of HTTP exchange the tests need (a JSON
// request, a stream read event by event, a raw socket that misbehaves).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"
#include "integration/ipfs_processes.h"

namespace ia::test {

// `ipfs-accelerate serve ARGS --port 0`, ready once it logs "ready on URL".
class ServeProcess {
 public:
  ServeProcess(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env = {});
  bool ready() const { return !url_.empty(); }
  const std::string& url() const { return url_; }
  const std::string& host() const { return host_; }
  int port() const { return port_; }
  int pid() const { return static_cast<int>(process_->pid()); }
  std::string log() const;
  // Sends SIGTERM and returns the exit status (waits for the process).
  int terminate();
  httplib::Client client() const;

 private:
  TempDir dir_;
  std::string log_path_, url_, host_ = "127.0.0.1";
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

struct HttpAnswer {
  int status = 0;  // 0: no answer (connection failed)
  std::string body;
  httplib::Headers headers;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

HttpAnswer post_json(const ServeProcess& s, const std::string& path, const std::string& body,
                     const httplib::Headers& headers = {});
HttpAnswer get(const ServeProcess& s, const std::string& path, const httplib::Headers& headers = {});

// A streamed answer's events (the JSON of each "data:" line; "[DONE]" kept as a string).
struct SseAnswer {
  int status = 0;
  std::vector<std::string> events;
  std::string raw;
  std::string error;  // the client's, when the exchange failed (or was stopped: Canceled)
};
// Reads the stream until it ends, or stops after `stop_after` events (closing the connection).
SseAnswer post_stream(const ServeProcess& s, const std::string& path, const std::string& body, size_t stop_after = 0);

// The value of a Prometheus series ("name{labels}") in /metrics, or -1 when absent.
double metric_value(const ServeProcess& s, const std::string& series);

// A raw TCP connection to the server.
class RawConnection {
 public:
  RawConnection(const std::string& host, int port);
  ~RawConnection();
  bool send_all(const std::string& bytes);
  // Reads what arrives within `ms`.
  std::string read_for(int ms);
  void close();

 private:
  int fd_ = -1;
};

std::string http_post_request(const std::string& path, const std::string& body);

}  // namespace ia::test
