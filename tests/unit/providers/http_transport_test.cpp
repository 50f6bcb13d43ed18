// The providers' HTTP transport against a loopback server: a request reuses the connection an
// earlier one left open, whichever thread makes it (the gateway relays each stream on a thread
// of its own), and requests at once each get a connection of their own.
#include "providers/http_transport.h"

#include <httplib.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "providers/curl_handle_pool.h"

namespace ia::providers {
namespace {

// A plain HTTP server on 127.0.0.1 recording the client port of every request it answers (one
// port: one connection).
class PortRecordingServer {
 public:
  PortRecordingServer() {
    http_.Get("/ping", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::unique_lock lock(mu_);
        ports_.push_back(req.remote_port);
        ++arrived_;
        cv_.notify_all();
        // Requests that must overlap wait here for each other (bounded: a failure, not a hang).
        cv_.wait_for(lock, std::chrono::seconds(5), [&] { return arrived_ >= hold_until_; });
      }
      res.set_content("pong", "text/plain");
    });
    http_.set_keep_alive_timeout(1);  // stop() waits for idle kept-alive connections at most this long
    port_ = http_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~PortRecordingServer() {
    http_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/ping"; }
  void hold_until(int arrived) {
    std::lock_guard lock(mu_);
    hold_until_ = arrived;
  }
  std::vector<int> ports() {
    std::lock_guard lock(mu_);
    return ports_;
  }

 private:
  httplib::Server http_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> ports_;
  int arrived_ = 0, hold_until_ = 0;
};

void expect_pong(const std::string& url) {
  HttpRequest r;
  r.url = url;
  const HttpOutcome out = http_send(r, HttpTimeouts{});
  EXPECT_EQ(out.failure, TransportFailure::None) << out.error;
  EXPECT_EQ(out.response.status, 200);
  EXPECT_EQ(out.response.body, "pong");
}

TEST(HttpTransport, ARequestOnAnotherThreadReusesTheConnection) {
  PortRecordingServer server;
  for (int i = 0; i < 3; ++i) std::thread([&] { expect_pong(server.url()); }).join();
  const std::vector<int> ports = server.ports();
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports[1], ports[0]) << "the second request (another thread) opened a new connection";
  EXPECT_EQ(ports[2], ports[0]) << "the third request (another thread) opened a new connection";
}

TEST(HttpTransport, RequestsAtOnceTakeAConnectionEachAndKeepThem) {
  PortRecordingServer server;
  server.hold_until(2);  // each request is answered only once both have arrived
  std::thread a([&] { expect_pong(server.url()); }), b([&] { expect_pong(server.url()); });
  a.join();
  b.join();
  std::vector<int> ports = server.ports();
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_NE(ports[0], ports[1]);
  EXPECT_GE(CurlHandlePool::instance().idle(), 2u);
  // Both connections stay open for the next requests.
  server.hold_until(0);
  expect_pong(server.url());
  ports = server.ports();
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_TRUE(ports[2] == ports[0] || ports[2] == ports[1]) << ports[2];
}

TEST(HttpTransport, HandlesArePooledByOrigin) {
  EXPECT_EQ(CurlHandlePool::origin_of("https://API.openai.com/v1/chat?x=1"), "https://api.openai.com");
  EXPECT_EQ(CurlHandlePool::origin_of("http://127.0.0.1:8080/v1"), "http://127.0.0.1:8080");
  EXPECT_EQ(CurlHandlePool::origin_of("http://host:1?q"), "http://host:1");
  EXPECT_EQ(CurlHandlePool::origin_of("http://host"), "http://host");
  EXPECT_EQ(CurlHandlePool::origin_of("not a url"), "not a url");
}

}  // namespace
}  // namespace ia::providers
