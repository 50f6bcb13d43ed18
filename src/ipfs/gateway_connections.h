#pragma once
// The gateway's connection handling: cpp-httplib's request parsing and
// response writing, under our own per-connection loop. httplib's own loop
// bounds each recv() but not a request as a whole, so a client sending one
// byte every few seconds would hold a worker forever; and its thread pool
// queues connections without limit behind the workers. Here:
//  - a pool of up to max_connections workers, started as connections arrive
//    and ended after a minute idle: an admitted connection never waits behind
//    a slow one, and the next connection gets 503 and is closed;
//  - at most max_connections_per_address of them from one client address
//    (503 past it), so one client cannot hold every worker;
//  - a deadline per request: its head (and body) must arrive within
//    request_read_timeout of its first byte, or the connection is closed;
//  - an idle keep-alive connection is closed after idle_timeout, and every
//    connection after max_requests_per_connection requests.
#include <httplib.h>

#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ipfs/gateway_server.h"

namespace ia::ipfs {

// Whether binding host:port fails because something already listens there (the
// reason httplib's bind_to_port does not report); the gateway and the model server
// both say so in one line.
bool port_in_use(const std::string& host, int port);

class BoundedHttpServer : public httplib::Server {
 public:
  // `setup_request` sees each parsed request before it is routed.
  BoundedHttpServer(const GatewayLimits& limits, std::function<void(httplib::Request&)> setup_request);
  // After a bind: lets `backlog` connections wait to be accepted. httplib listens with a backlog
  // of 5, and a burst of clients past it overflows the accept queue (SYN cookies, dropped
  // handshakes, some clients failing): a model server gets such bursts.
  bool set_listen_backlog(int backlog);

 private:
  bool process_and_close_socket(socket_t sock) override;
  // Counts a connection from `address`; false (not counted) when it has its limit already.
  bool admit(const std::string& address);
  void release(const std::string& address);

  GatewayLimits limits_;
  std::mutex per_address_mu_;
  std::unordered_map<std::string, size_t> per_address_;
  std::function<void(httplib::Request&)> setup_request_;
};

}  // namespace ia::ipfs
