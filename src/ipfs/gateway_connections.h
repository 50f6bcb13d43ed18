#pragma once
// The gateway's connection handling: cpp-httplib's request parsing and
// response writing, under our own per-connection loop. httplib's own loop
// bounds each recv() but not a request as a whole, so a client sending one
// byte every few seconds would hold a worker forever; and its thread pool
// queues connections without limit behind the workers. Here:
//  - a pool of exactly max_connections workers: an admitted connection never
//    waits behind a slow one, and the next connection gets 503 and is closed;
//  - a deadline per request: its head (and body) must arrive within
//    request_read_timeout of its first byte, or the connection is closed;
//  - an idle keep-alive connection is closed after idle_timeout, and every
//    connection after max_requests_per_connection requests.
#include <httplib.h>

#include <functional>

#include "ipfs/gateway_server.h"

namespace ia::ipfs {

class BoundedHttpServer : public httplib::Server {
 public:
  // `setup_request` sees each parsed request before it is routed.
  BoundedHttpServer(const GatewayLimits& limits, std::function<void(httplib::Request&)> setup_request);

 private:
  bool process_and_close_socket(socket_t sock) override;

  GatewayLimits limits_;
  std::function<void(httplib::Request&)> setup_request_;
};

}  // namespace ia::ipfs
