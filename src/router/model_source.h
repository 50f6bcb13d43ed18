#pragma once
// Where a `--model` argument points: a folder as it is, or content on IPFS.
// `CID`, `CID/sub`, `ipfs://CID[/sub]`, `/ipfs/CID[/sub]` and names registered
// with `models add` are fetched into the blockstore if missing (verified,
// block by block, from the gateways given) and materialised once as a plain
// folder under $IPFS_ACCELERATE_HOME/models/<CID>, which later runs reuse.
#include <optional>
#include <string>
#include <vector>

namespace ia::router {

// Gateways for fetching models (`--gateway`); IPFS_GATEWAY is used when none was set.
void set_model_gateways(std::vector<std::string> gateways);

// The local folder for `model` when it names IPFS content or a registered
// name; nullopt when it is neither (the caller treats it as a path). Throws
// ia::Error when the content cannot be fetched or is not a folder.
std::optional<std::string> resolve_model_source(const std::string& model);

}  // namespace ia::router
