#pragma once
// A trustless-gateway client: fetches a DAG from HTTP gateways into a
// blockstore, verifying every block against its CID before storing it. It asks
// for the whole DAG as a CAR first and falls back to one ?format=raw request
// per block still missing; blocks already stored are never fetched again, so
// an interrupted fetch resumes where it stopped.
#include <functional>
#include <string>
#include <vector>

#include "ipfs/blockstore.h"

namespace ia::ipfs {

struct FetchStats {
  size_t blocks_fetched = 0;  // new blocks verified and stored
  uint64_t bytes_fetched = 0;
  size_t blocks_total = 0;  // blocks of the DAG, all present now
  std::string gateway;      // the one that completed it
};

struct FetchOptions {
  std::vector<std::string> gateways;  // tried in order
  bool try_car = true;
  long timeout_s = 300;
  std::function<void(uint64_t bytes)> on_progress;
};

// Gateways from IPFS_GATEWAY (comma-separated), if set.
std::vector<std::string> gateways_from_env();

// Throws ia::Error: Unavailable when no gateway could deliver, Corrupt when a
// gateway sent bytes that do not match (that gateway is then skipped).
FetchStats fetch_dag(const Cid& root, Blockstore& store, const FetchOptions& options);

}  // namespace ia::ipfs
