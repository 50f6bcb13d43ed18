#pragma once
// A trustless-gateway client: fetches a DAG from HTTP gateways into a
// blockstore, verifying every block against its CID before storing it.
//
// The body of a `?format=car` response is parsed as it streams (libcurl's
// write callback feeds a CarStreamReader): each block is verified, checked to
// belong to the DAG asked for (a link of a block already accepted) and stored
// at once, so memory holds about one block and an interrupted fetch keeps
// everything verified so far. A later fetch walks what is stored, asks for the
// missing subtrees only, and falls back to one `?format=raw` request per block
// when a gateway cannot deliver a CAR. A fetch is a ProgressTask
// (core/progress.h), "fetching CID[/path]", of the bytes received.
#include <string>
#include <vector>

#include "ipfs/blockstore.h"

namespace ia::ipfs {

struct FetchStats {
  size_t blocks_fetched = 0;  // new blocks verified and stored
  uint64_t bytes_fetched = 0;
  size_t blocks_total = 0;  // blocks of the DAG, all present now
  std::string gateway;      // the one that completed it, credentials redacted
};

struct FetchOptions {
  std::vector<std::string> gateways;  // tried in order
  bool try_car = true;
  long stall_timeout_s = 60;  // a transfer slower than 1 KB/s for this long is abandoned
  long idle_timeout_s = 60;   // a transfer that brings no new block of the DAG for this long is abandoned (0: none)
  uint64_t max_bytes = 0;     // response bytes in all before the fetch stops with InvalidArgument (0: no limit)
};

// Gateways from IPFS_GATEWAY (comma-separated), if set.
std::vector<std::string> gateways_from_env();

// Returns with every block of the DAG present and verified (and store.sync()
// called). A CAR that carries a block outside the DAG asked for (or more
// duplicates than blocks) is cut there and the gateway is tried block by block;
// redirects are followed only within the gateway's origin; errors show
// gateway URLs with their credentials redacted. Throws ia::Error: Unavailable when no gateway could deliver,
// naming the last failure (a gateway that sent bytes not matching their CID
// is abandoned for the next one).
FetchStats fetch_dag(const Cid& root, Blockstore& store, const FetchOptions& options);

// Fetches what `root/path` names (a file or a folder), not the rest of
// root's DAG: one CAR of the path (its proof blocks, then the target's DAG);
// when that does not prove the path (no CAR, or the gateway answers with an
// error), the path is walked block by block (?format=raw), fetching only the
// directories on the way; then fetch_dag of the target for whatever is still
// missing. Returns the target's CID. Throws as fetch_dag; NotFound when the
// path names nothing (known from verified blocks, without fetching the rest).
Cid fetch_path(const Cid& root, const std::string& path, Blockstore& store, const FetchOptions& options,
               FetchStats* stats = nullptr);

}  // namespace ia::ipfs
