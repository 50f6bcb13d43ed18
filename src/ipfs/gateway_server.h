#pragma once
// A trustless HTTP gateway (specs.ipfs.tech/http-gateways/trustless-gateway)
// over the local blockstore: GET/HEAD /ipfs/{cid}[/path] answering
// ?format=raw|car or Accept: application/vnd.ipld.raw|car. Only verifiable
// responses are served (a request that asks for neither gets 400).
//
// Bounded for a shared network (GatewayLimits): every admitted connection has
// its own worker, so a slow client never holds a worker another client waits
// for; a slow client is cut off once its request head is late; connections past
// the limit get 503 at once; Range requests are capped and merged, so no answer
// is built in memory beyond the block it slices.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ipfs/blockstore.h"

namespace ia::ipfs {

struct GatewayLimits {
  // Connections served at once, each by its own worker thread; one more is
  // answered 503 and closed.
  size_t max_connections = 64;
  // Connections one client address may hold at once (0: no limit); its next
  // one is answered 503 and closed, so one client cannot take every worker.
  size_t max_connections_per_address = 16;
  // A request's line and headers (and any body) must arrive within this, from
  // its first byte: a client dribbling bytes is cut off after it.
  std::chrono::milliseconds request_read_timeout{10'000};
  // An idle keep-alive connection is closed after this.
  std::chrono::milliseconds idle_timeout{5'000};
  // Each write must make progress within this (a client that stops reading).
  std::chrono::milliseconds write_timeout{10'000};
  // Requests served on one connection before it is closed.
  size_t max_requests_per_connection = 100;
  // Entries in one Range header; more are refused with 416. Fewer are merged
  // (overlapping or adjacent), so a multipart body is at most the block plus
  // one part header per entry.
  size_t max_ranges = 32;
  // A request body (GET has none) larger than this is refused with 413.
  size_t max_request_body = 64 * 1024;
};

class GatewayServer {
 public:
  explicit GatewayServer(Blockstore& store, GatewayLimits limits = {});
  ~GatewayServer();
  // Binds host:port (port 0 picks a free one) and returns the bound port.
  int bind(const std::string& host, int port);
  // Serves until stop() (blocking).
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ia::ipfs
