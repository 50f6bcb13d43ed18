// The gateway under hostile clients, over loopback: clients dribbling header
// bytes are cut off while others are still served, connections past the limit
// get 503, a Range header of 1,900 overlapping entries is refused without
// building its answer, and error bodies never name a local path.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ipfs/gateway_server.h"
#include "unit/ipfs/fixtures.h"

namespace ia::ipfs {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class RunningGateway {
 public:
  RunningGateway(Blockstore& store, GatewayLimits limits) : server_(store, limits) {
    port_ = server_.bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_.run(); });
    httplib::Client c("127.0.0.1", port_);
    for (int i = 0; i < 100 && !c.Get("/ipfs/bafkqaaa?format=raw"); ++i)  // until it listens
      std::this_thread::sleep_for(milliseconds(20));
  }
  ~RunningGateway() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  GatewayServer server_;
  int port_ = 0;
  std::thread thread_;
};

// A plain TCP connection to the gateway, for clients httplib would not be.
int connect_raw(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  timeval tv{0, 200'000};  // recv() below waits at most this
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// True once the server has closed `fd` (EOF or reset; any bytes it sent first are read and dropped).
bool closed_by_server(int fd) {
  char buf[512];
  for (int i = 0; i < 16; ++i) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  }
  return false;
}

// Peak resident memory of this process (the server runs in it), in bytes.
size_t peak_rss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

TEST(GatewayLimits, ClientsDribblingHeadersAreCutOffWhileOthersAreServed) {
  MemoryBlockstore store;
  const Cid hello = Cid::of(1, kCodecRaw, "hello");
  store.put(hello, std::string("hello"));
  GatewayLimits limits;
  limits.max_connections = 16;
  limits.request_read_timeout = milliseconds(3000);
  RunningGateway gw(store, limits);

  // 10 clients send a request head one byte every 200 ms: it would take them
  // longer than the bound to finish. Each runs at most 40 steps (8 s).
  constexpr int kDribblers = 10;
  std::vector<std::thread> dribblers;
  std::atomic<int> cut_off{0};
  std::vector<double> cut_after_s(kDribblers, -1);
  const std::string head = "GET /ipfs/" + hello.to_string() +
                           "?format=raw HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(200, 'a') + "\r\n\r\n";
  const auto start = Clock::now();
  for (int d = 0; d < kDribblers; ++d) {
    dribblers.emplace_back([&, d] {
      int fd = connect_raw(gw.port());
      if (fd < 0) return;
      for (size_t i = 0; i < 40 && i < head.size(); ++i) {
        if (::send(fd, &head[i], 1, MSG_NOSIGNAL) != 1 || closed_by_server(fd)) {
          cut_after_s[d] = std::chrono::duration<double>(Clock::now() - start).count();
          ++cut_off;
          break;
        }
        std::this_thread::sleep_for(milliseconds(200));
      }
      ::close(fd);
    });
  }
  std::this_thread::sleep_for(milliseconds(400));  // the dribblers are connected and holding their connections
  httplib::Client c("127.0.0.1", gw.port());
  c.set_read_timeout(5, 0);
  const auto asked = Clock::now();
  auto r = c.Get(("/ipfs/" + hello.to_string() + "?format=raw").c_str());
  const double answered_s = std::chrono::duration<double>(Clock::now() - asked).count();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  EXPECT_LT(answered_s, 2.0);  // not queued behind the dribblers (they hold on for 3 s)

  for (std::thread& t : dribblers) t.join();
  EXPECT_EQ(cut_off.load(), kDribblers);
  for (double s : cut_after_s) {
    EXPECT_GE(s, 2.5);  // not before the bound (3 s, less scheduling slack)
    EXPECT_LT(s, 6.0);  // and soon after it
  }
}

TEST(GatewayLimits, ConnectionsPastTheLimitAreRefusedWith503) {
  MemoryBlockstore store;
  GatewayLimits limits;
  limits.max_connections = 2;
  limits.idle_timeout = milliseconds(800);
  RunningGateway gw(store, limits);
  std::this_thread::sleep_for(milliseconds(200));  // the start-up probe's connection is gone
  // Two silent connections take both workers.
  int a = connect_raw(gw.port()), b = connect_raw(gw.port());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::this_thread::sleep_for(milliseconds(200));
  httplib::Client c("127.0.0.1", gw.port());
  const std::string absent = "/ipfs/" + Cid::of(1, kCodecRaw, "absent").to_string() + "?format=raw";
  auto refused = c.Get(absent.c_str());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(nlohmann::json::parse(refused->body)["error"]["code"], "unavailable");
  EXPECT_EQ(refused->get_header_value("Retry-After"), "1");
  // Idle connections are closed after idle_timeout, and the slots serve again.
  std::this_thread::sleep_for(limits.idle_timeout + milliseconds(300));
  EXPECT_TRUE(closed_by_server(a));
  EXPECT_TRUE(closed_by_server(b));
  auto served = c.Get(absent.c_str());
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 404);
  ::close(a);
  ::close(b);
}

// A plain TCP connection from another loopback address (Linux routes all of 127/8 to lo).
int connect_raw_from(const char* source, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, source, &src.sin_addr);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// One request over a raw socket; the whole response as text.
std::string raw_get(int fd, const std::string& path) {
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return "";
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<size_t>(n));
  return got;
}

TEST(GatewayLimits, OneAddressCannotHoldEveryWorker) {
  MemoryBlockstore store;
  const Cid hello = Cid::of(1, kCodecRaw, "hello");
  store.put(hello, std::string("hello"));
  GatewayLimits limits;
  limits.max_connections = 8;
  limits.max_connections_per_address = 2;
  limits.idle_timeout = milliseconds(3000);
  RunningGateway gw(store, limits);
  std::this_thread::sleep_for(milliseconds(200));  // the start-up probe's connection is gone
  // 127.0.0.1 holds its two connections, silent.
  int a = connect_raw(gw.port()), b = connect_raw(gw.port());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::this_thread::sleep_for(milliseconds(200));
  const std::string path = "/ipfs/" + hello.to_string() + "?format=raw";
  // Its third is refused, though 6 workers are free ...
  httplib::Client c("127.0.0.1", gw.port());
  auto refused = c.Get(path.c_str());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(nlohmann::json::parse(refused->body)["error"]["message"],
            "too many connections from this address; try again shortly");
  // ... while another address is served.
  int other = connect_raw_from("127.0.0.2", gw.port());
  if (other < 0) GTEST_SKIP() << "cannot connect from 127.0.0.2 on this machine";
  const std::string answer = raw_get(other, path);
  ::close(other);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_NE(answer.find("hello"), std::string::npos);
  // A connection that ends gives its slot back.
  ::close(a);
  std::this_thread::sleep_for(milliseconds(300));
  auto served = c.Get(path.c_str());
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);
  ::close(b);
}

class RangeRequests : public ::testing::Test {
 protected:
  RangeRequests() : block_(test::xorshift_bytes(7, 256 * 1024)), cid_(Cid::of(1, kCodecRaw, block_)) {
    store_.put(cid_, block_);
  }
  httplib::Result get(const std::string& range) {
    httplib::Client c("127.0.0.1", gw_.port());
    return c.Get(("/ipfs/" + cid_.to_string() + "?format=raw").c_str(), {{"Range", range}});
  }
  MemoryBlockstore store_;
  Bytes block_;
  Cid cid_;
  RunningGateway gw_{store_, GatewayLimits{}};
};

TEST_F(RangeRequests, ManyOverlappingRangesAreRefusedQuicklyWithBoundedMemory) {
  // 1,900 entries "0-", each the whole 256 KiB block: answered as written, ~500 MB.
  std::string range = "bytes=0-";
  for (int i = 1; i < 1900; ++i) range += ",0-";
  ASSERT_LT(range.size(), 6000u);
  const size_t peak_before = peak_rss();
  const auto start = Clock::now();
  auto r = get(range);
  const double took_s = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 416);
  EXPECT_EQ(r->get_header_value("Content-Range"), "bytes */262144");
  EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["message"], "at most 32 ranges are served in one request");
  EXPECT_LT(took_s, 2.0);
  EXPECT_LT(peak_rss(), peak_before + (64u << 20));
}

TEST_F(RangeRequests, OverlappingRangesAreMergedIntoOne) {
  auto r = get("bytes=0-,0-,100-200,-10");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->get_header_value("Content-Range"), "bytes 0-262143/262144");
  EXPECT_TRUE(r->body == block_);
  auto suffix = get("bytes=-10");
  ASSERT_TRUE(suffix);
  EXPECT_EQ(suffix->status, 206);
  EXPECT_EQ(suffix->get_header_value("Content-Range"), "bytes 262134-262143/262144");
  EXPECT_TRUE(suffix->body == block_.substr(262134));
  auto past = get("bytes=300000-");
  ASSERT_TRUE(past);
  EXPECT_EQ(past->status, 416);
}

TEST_F(RangeRequests, DisjointRangesComeAsOneMultipartBody) {
  auto r = get("bytes=10-19,0-4,3-7");  // 0-7 and 10-19 once merged
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  const std::string type = r->get_header_value("Content-Type");
  ASSERT_EQ(type.rfind("multipart/byteranges; boundary=", 0), 0u) << type;
  const std::string boundary = type.substr(type.find('=') + 1);
  const std::string expected =
      "--" + boundary + "\r\nContent-Type: application/vnd.ipld.raw\r\nContent-Range: bytes 0-7/262144\r\n\r\n" +
      block_.substr(0, 8) + "\r\n--" + boundary +
      "\r\nContent-Type: application/vnd.ipld.raw\r\nContent-Range: bytes 10-19/262144\r\n\r\n" +
      block_.substr(10, 10) + "\r\n--" + boundary + "--\r\n";
  EXPECT_TRUE(r->body == expected);
  // A CAR is streamed whole whatever Range asks: 200, never a 206 that is not one.
  httplib::Client c("127.0.0.1", gw_.port());
  auto car = c.Get(("/ipfs/" + cid_.to_string() + "?format=car").c_str(), {{"Range", "bytes=0-9"}});
  ASSERT_TRUE(car);
  EXPECT_EQ(car->status, 200);
  EXPECT_GT(car->body.size(), block_.size());
}

// A store that fails the way a broken disk or a bug does, naming a local path.
class FailingBlockstore : public Blockstore {
 public:
  explicit FailingBlockstore(bool filesystem) : filesystem_(filesystem) {}
  bool has(const Multihash&) override { fail_now(); }
  std::optional<Bytes> get(const Multihash&) override { fail_now(); }
  bool remove(const Multihash&) override { return false; }
  void for_each(const std::function<void(const Multihash&)>&) override {}
  void put(const Cid&, BytesView) override {}
  static std::string local_path() { return test::kIpfsFixtures + "/blocks/CIQ.data"; }

 private:
  [[noreturn]] void fail_now() {
    if (filesystem_)
      throw std::filesystem::filesystem_error("cannot read", local_path(), std::make_error_code(std::errc::io_error));
    throw std::runtime_error("unexpected state reading " + local_path());
  }
  bool filesystem_;
};

TEST(GatewayErrors, ServerErrorBodiesNameNoLocalPath) {
  const std::string repo_root = std::filesystem::path(test::kIpfsFixtures).parent_path().parent_path().string();
  ASSERT_TRUE(std::filesystem::path(repo_root).is_absolute());
  for (bool filesystem : {false, true}) {
    FailingBlockstore store(filesystem);
    RunningGateway gw(store, GatewayLimits{});
    httplib::Client c("127.0.0.1", gw.port());
    auto r = c.Get(("/ipfs/" + Cid::of(1, kCodecRaw, "x").to_string() + "?format=raw").c_str());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, filesystem ? 503 : 500);
    EXPECT_EQ(r->body.find(repo_root), std::string::npos) << r->body;
    EXPECT_EQ(r->body.find(FailingBlockstore::local_path()), std::string::npos) << r->body;
    const auto body = nlohmann::json::parse(r->body);
    EXPECT_EQ(body["error"]["message"],
              filesystem ? "the blockstore is unavailable; try again later" : "internal error");
  }
}

}  // namespace
}  // namespace ia::ipfs
