#pragma once
// What a trustless-gateway request asks for, decided before any block is
// read: the root CID and path, the response format (?format= wins over
// Accept: of application/vnd.ipld.raw and application/vnd.ipld.car the one with
// the highest q, the first written on a tie; q=0 refuses a type), and for a CAR
// its version, order, dag-scope, entity-bytes and dups. This gateway serves
// only verifiable responses, so a request that asks for neither raw nor CAR
// (UnixFS bytes, say) is refused rather than answered unverifiably.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "ipfs/car_selection.h"
#include "ipfs/cid.h"

namespace ia::ipfs {

enum class GatewayFormat { Raw, Car };

struct GatewayQuery {
  Cid root;
  std::string root_text;  // the CID as the client wrote it: headers and Etags repeat it
  std::string path;       // under root, without a trailing '/'
  GatewayFormat format = GatewayFormat::Raw;
  bool from_accept = false;  // chosen by Accept, not ?format (the response then names its ?format URL)
  CarSelection car;          // format Car only
  std::string entity_bytes;  // ?entity-bytes as written (the Etag repeats it)

  // "/ipfs/{root_text}[/{path}]".
  std::string ipfs_path() const;
  // Names everything that shapes the bytes (spec: scope, entity-bytes; here dups too).
  std::string etag() const;
};

// A request for a response this gateway does not produce (CARv2, an order
// other than dfs, every ipld type refused with q=0): HTTP 406. Its kind is InvalidArgument, what it is anywhere else.
class NotAcceptable : public Error {
 public:
  explicit NotAcceptable(const std::string& message) : Error(ErrorKind::InvalidArgument, message) {}
};

// A query parameter's value, nullopt when the request has none.
using QueryParam = std::function<std::optional<std::string>(const char* name)>;

// `target` is what follows "/ipfs/". Throws ia::Error(InvalidArgument) for a
// malformed request (400) and NotAcceptable (406).
GatewayQuery negotiate_gateway_query(std::string_view target, std::string_view accept, const QueryParam& param);

}  // namespace ia::ipfs
