#pragma once
// A trustless HTTP gateway (specs.ipfs.tech/http-gateways/trustless-gateway)
// over the local blockstore: GET/HEAD /ipfs/{cid}[/path] answering
// ?format=raw|car or Accept: application/vnd.ipld.raw|car. Only verifiable
// responses are served (a request that asks for neither gets 400).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ipfs/blockstore.h"

namespace ia::ipfs {

class GatewayServer {
 public:
  explicit GatewayServer(Blockstore& store);
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
