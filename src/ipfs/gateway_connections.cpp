#include "ipfs/gateway_connections.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/error_outcome.h"

namespace ia::ipfs {

namespace {

using Clock = std::chrono::steady_clock;

// Polls are cut into slices this long so a stopping server is noticed soon.
constexpr std::chrono::milliseconds kPollSlice{100};

// Set on the accepting thread while it closes a connection past the limit.
thread_local bool t_refuse_connection = false;

// Up to `workers` threads, started as connections arrive and ended after a minute without one
// (a limit of thousands costs nothing until it is used, and a burst's threads do not stay); a
// connection that would have to wait for a thread is refused instead (run at once on the
// accepting thread with t_refuse_connection set: httplib hands us a closure that owns the
// socket, and only running it closes the socket).
class ConnectionPool : public httplib::TaskQueue {
 public:
  explicit ConnectionPool(size_t workers) : capacity_(std::max<size_t>(workers, 1)) {}
  ~ConnectionPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      join_retired();
      if (!stopping_ && busy_ + pending_.size() < capacity_) {
        pending_.push_back(std::move(fn));
        if (pending_.size() <= idle_) {
          cv_.notify_one();
        } else {
          std::thread t([this] { work(); });
          const std::thread::id id = t.get_id();
          threads_.emplace(id, std::move(t));
        }
        return;
      }
    }
    t_refuse_connection = true;
    fn();
    t_refuse_connection = false;
  }

  void shutdown() override {
    std::unordered_map<std::thread::id, std::thread> threads;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      threads.swap(threads_);
      retired_.clear();
    }
    cv_.notify_all();
    for (auto& [id, t] : threads) t.join();
  }

 private:
  static constexpr std::chrono::seconds kIdleThreadLifetime{60};

  void work() {
    std::unique_lock lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait_for(lock, kIdleThreadLifetime, [this] { return stopping_ || !pending_.empty(); });
      --idle_;
      if (pending_.empty()) {  // stopping, or idle for a minute: the next enqueue (or shutdown) joins it
        retired_.push_back(std::this_thread::get_id());
        return;
      }
      std::function<void()> fn = std::move(pending_.front());
      pending_.pop_front();
      ++busy_;
      lock.unlock();
      fn();
      lock.lock();
      --busy_;
    }
  }

  // Joins the threads that ended for want of work (under mu_; each has returned or is returning).
  void join_retired() {
    for (const std::thread::id id : retired_) {
      const auto it = threads_.find(id);
      if (it == threads_.end()) continue;
      it->second.join();
      threads_.erase(it);
    }
    retired_.clear();
  }

  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> pending_;
  size_t busy_ = 0, idle_ = 0;
  bool stopping_ = false;
  std::unordered_map<std::thread::id, std::thread> threads_;
  std::vector<std::thread::id> retired_;
};

// A socket as httplib::Stream, with a deadline on reads: each request's reads
// must finish by the deadline set when it starts, however the bytes trickle in.
class DeadlineSocketStream : public httplib::Stream {
 public:
  DeadlineSocketStream(int sock, const GatewayLimits& limits, const std::atomic<int>& listening)
      : sock_(sock), limits_(limits), listening_(listening) {}

  // Waits up to idle_timeout for the next request's first byte.
  bool wait_for_request() {
    if (buffered() > 0) return true;
    return wait_for(POLLIN, Clock::now() + limits_.idle_timeout);
  }
  void start_request() { read_deadline_ = Clock::now() + limits_.request_read_timeout; }

  bool is_readable() const override { return buffered() > 0 || wait_for(POLLIN, read_deadline_); }
  bool is_writable() const override { return wait_for(POLLOUT, Clock::now() + limits_.write_timeout); }

  ssize_t read(char* ptr, size_t size) override {
    if (buffered() == 0) {
      if (!wait_for(POLLIN, read_deadline_)) return -1;
      ssize_t n;
      do n = ::recv(sock_, buffer_, sizeof buffer_, 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      begin_ = 0, end_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, buffered());
    std::memcpy(ptr, buffer_ + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(&::getpeername, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(&::getsockname, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  size_t buffered() const { return end_ - begin_; }

  // Polls for `events` until `deadline` (false then), in slices so that a
  // stopped server ends the wait too.
  bool wait_for(short events, Clock::time_point deadline) const {
    for (;;) {
      if (listening_.load() == INVALID_SOCKET) return false;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{sock_, events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::min(left, kPollSlice).count()));
      if (r > 0) return true;  // ready, or an error/hang-up the next call reports
      if (r < 0 && errno != EINTR) return false;
    }
  }

  void address_of(int (*get)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (get(sock_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    char text[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
      port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
      port = ntohs(a->sin6_port);
    }
    ip = text;
  }

  const int sock_;
  const GatewayLimits& limits_;
  const std::atomic<int>& listening_;
  Clock::time_point read_deadline_ = Clock::now();
  char buffer_[4096];
  size_t begin_ = 0, end_ = 0;
};

// The client's address without the port ("" when the socket has none).
std::string peer_address(int sock) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, text, sizeof text);
  }
  return text;
}

// Refused connections on their way out: each has its 503 sent and its write side shut, and is
// read (what comes is discarded) until the client closes it or a second has passed. Closing a
// socket with the request still unread makes the kernel reset the connection, and the reset can
// discard the 503 before the client has read it (a client that was still sending its body sees
// only "connection reset"); nginx's lingering close is there for the same reason. One thread for
// the process, at most kMaxLingering sockets at once (past them one is closed at once).
class LingeringCloser {
 public:
  static LingeringCloser& instance() {
    static LingeringCloser closer;
    return closer;
  }
  ~LingeringCloser() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (const Lingering& l : added_) ::close(l.fd);
  }

  // Takes `fd` (its 503 written, its write side shut).
  void add(int fd) {
    std::lock_guard lock(mu_);
    if (stopping_ || count_ + added_.size() >= kMaxLingering) {
      ::close(fd);
      return;
    }
    added_.push_back({fd, Clock::now() + kLingerTime});
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    cv_.notify_one();
  }

 private:
  struct Lingering {
    int fd;
    Clock::time_point until;
  };
  static constexpr size_t kMaxLingering = 1024;
  static constexpr std::chrono::milliseconds kLingerTime{1'000};

  void run() {
    std::vector<Lingering> open;
    std::vector<pollfd> polled;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !open.empty() || !added_.empty(); });
        if (stopping_) break;
        open.insert(open.end(), added_.begin(), added_.end());
        added_.clear();
        count_ = open.size();
      }
      polled.clear();
      for (const Lingering& l : open) polled.push_back({l.fd, POLLIN, 0});
      (void)::poll(polled.data(), polled.size(), static_cast<int>(kPollSlice.count()));
      const Clock::time_point now = Clock::now();
      size_t kept = 0;
      for (size_t i = 0; i < open.size(); ++i) {
        bool done = now >= open[i].until;
        if (!done && polled[i].revents != 0) {
          char sink[4096];
          const ssize_t n = ::recv(open[i].fd, sink, sizeof sink, MSG_DONTWAIT);
          done = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
        }
        if (done)
          ::close(open[i].fd);
        else
          open[kept++] = open[i];
      }
      open.resize(kept);
    }
    for (const Lingering& l : open) ::close(l.fd);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Lingering> added_;
  size_t count_ = 0;  // sockets the thread holds
  bool stopping_ = false;
  std::thread thread_;
};

// Past a connection limit: a 503 the client can read, sent without waiting (the accepting thread
// must not block on a client); the socket then lingers (above) and the caller closes its own
// descriptor of it.
void refuse(int sock, const char* why) {
  const std::string body = http_error_body({ErrorKind::Unavailable, why}) + "\n";
  const std::string response =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body;
  (void)::send(sock, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(sock, SHUT_WR);
  const int lingering = ::dup(sock);
  if (lingering >= 0) LingeringCloser::instance().add(lingering);
}

}  // namespace

BoundedHttpServer::BoundedHttpServer(const GatewayLimits& limits, std::function<void(httplib::Request&)> setup_request)
    : limits_(limits), setup_request_(std::move(setup_request)) {
  new_task_queue = [n = limits_.max_connections] { return new ConnectionPool(n); };
  set_payload_max_length(limits_.max_request_body);
  // httplib's default sets SO_REUSEPORT, which lets a second server bind a port one
  // already listens on and split its traffic; SO_REUSEADDR alone still allows a
  // restart over TIME_WAIT connections but refuses a port in use (EADDRINUSE).
  set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
}

bool BoundedHttpServer::set_listen_backlog(int backlog) {
  const socket_t sock = svr_sock_;
  return sock != INVALID_SOCKET && ::listen(sock, backlog) == 0;  // listen again: Linux updates the backlog
}

bool port_in_use(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return false;
  bool in_use = false;
  for (addrinfo* ai = found; ai && !in_use; ai = ai->ai_next) {
    int sock = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (sock < 0) continue;
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    in_use = ::bind(sock, ai->ai_addr, ai->ai_addrlen) != 0 && errno == EADDRINUSE;
    close(sock);
  }
  freeaddrinfo(found);
  return in_use;
}

bool BoundedHttpServer::admit(const std::string& address) {
  if (limits_.max_connections_per_address == 0) return true;
  std::lock_guard lock(per_address_mu_);
  size_t& n = per_address_[address];
  if (n >= limits_.max_connections_per_address) return false;
  ++n;
  return true;
}

void BoundedHttpServer::release(const std::string& address) {
  if (limits_.max_connections_per_address == 0) return;
  std::lock_guard lock(per_address_mu_);
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

bool BoundedHttpServer::process_and_close_socket(socket_t sock) {
  bool ok = false;
  const std::string address = t_refuse_connection ? std::string() : peer_address(sock);
  if (t_refuse_connection) {
    refuse(sock, "too many connections; try again shortly");
    ::close(sock);  // the lingering descriptor keeps the connection until the client has read the 503
    return false;
  }
  if (!admit(address)) {
    refuse(sock, "too many connections from this address; try again shortly");
    ::close(sock);
    return false;
  }
  {
    struct ReleaseOnExit {
      BoundedHttpServer* server;
      const std::string& address;
      ~ReleaseOnExit() { server->release(address); }
    } release_on_exit{this, address};
    DeadlineSocketStream stream(sock, limits_, svr_sock_);
    for (size_t left = limits_.max_requests_per_connection; left > 0 && stream.wait_for_request(); --left) {
      stream.start_request();
      bool closed = false;
      ok = process_request(stream, left == 1, closed, setup_request_);
      if (!ok || closed) break;
    }
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

}  // namespace ia::ipfs
