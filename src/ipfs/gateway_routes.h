#pragma once
// The trustless gateway's routes (GET/HEAD /ipfs/{cid}[/path]) as something any
// BoundedHttpServer can carry: `ipfs serve` mounts them alone, the model server
// beside its own routes, so a node that serves models also serves their blocks.
#include <httplib.h>

#include <memory>

#include "ipfs/blockstore.h"
#include "ipfs/gateway_server.h"

namespace ia::ipfs {

class GatewayRoutes {
 public:
  GatewayRoutes(Blockstore& store, GatewayLimits limits);
  ~GatewayRoutes();
  GatewayRoutes(const GatewayRoutes&) = delete;
  GatewayRoutes& operator=(const GatewayRoutes&) = delete;

  // Adds the routes to `server`, which must stop before this object goes.
  void mount(httplib::Server& server);
  // What the server must do with every parsed request before routing (its setup_request):
  // the gateway answers Range itself, so httplib never slices a body in memory.
  static void take_ranges(httplib::Request& req);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ia::ipfs
