#pragma once
// libcurl easy handles kept between requests, by origin (scheme://host:port). A handle's
// connection cache keeps its connection to the origin open, so the next request there, on
// whichever thread makes it, reuses the connection: no TCP or TLS handshake (for a remote
// provider over TLS, one or two round trips and the key exchange per request). The gateway
// relays each stream on a thread of its own, so a per-thread handle would open a new
// connection for every request.
//
// libcurl does not support one connection cache shared by concurrent threads
// (CURL_LOCK_DATA_CONNECT), so each handle keeps its own and is used by one thread at a time;
// DNS answers and TLS sessions are shared by every handle (CURL_LOCK_DATA_DNS /
// SSL_SESSION, with a lock each), so a new handle resumes a session instead of a full
// handshake. At most kMaxIdleHandles wait idle; a handle returned past that is closed.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

typedef void CURL;

namespace ia::providers {

class CurlHandlePool {
 public:
  static constexpr size_t kMaxIdleHandles = 64;

  // The process's pool (never destroyed: requests may still run on other threads at exit).
  static CurlHandlePool& instance();

  // A handle for one exchange, returned to the pool when the lease ends.
  class Lease {
   public:
    Lease(CurlHandlePool& pool, std::string origin, CURL* handle)
        : pool_(&pool), origin_(std::move(origin)), handle_(handle) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), origin_(std::move(o.origin_)), handle_(o.handle_) {
      o.handle_ = nullptr;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    CURL* get() const { return handle_; }  // null when libcurl could not make one

   private:
    CurlHandlePool* pool_;
    std::string origin_;
    CURL* handle_;
  };

  // An idle handle last used for `url`'s origin, else a new one (sharing DNS and TLS sessions).
  Lease acquire(std::string_view url);
  // Handles waiting idle now (tests and metrics).
  size_t idle() const;

  // "scheme://host[:port]" of a URL, lower-cased; the whole string when it has no "://".
  static std::string origin_of(std::string_view url);

  struct State;  // the idle handles and the share object (curl_handle_pool.cpp)

 private:
  CurlHandlePool();
  void put(const std::string& origin, CURL* handle);

  State* state_;
};

}  // namespace ia::providers
