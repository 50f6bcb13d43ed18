#include "ipfs/gateway_negotiation.h"

namespace ia::ipfs {

namespace {

bool contains(std::string_view s, std::string_view what) {
  return s.find(what) != std::string_view::npos;
}

// The CAR parameters: ?car-version / ?car-order / ?car-dups, else the Accept header's version= / order= / dups=.
void negotiate_car(GatewayQuery& q, std::string_view accept, const QueryParam& param) {
  std::string version = param("car-version").value_or("");
  if (version.empty() && contains(accept, "version=2")) version = "2";
  if (!version.empty() && version != "1") throw NotAcceptable("only CARv1 is served");
  std::string order = param("car-order").value_or("");
  if (size_t p = accept.find("order="); order.empty() && p != std::string_view::npos) {
    order = std::string(accept.substr(p + 6, accept.find_first_of(";, ", p + 6) - (p + 6)));
  }
  if (!order.empty() && order != "dfs" && order != "unk") throw NotAcceptable("only order=dfs is served");

  q.car.scope = parse_dag_scope(param("dag-scope").value_or("all"));
  q.entity_bytes = param("entity-bytes").value_or("");
  if (!q.entity_bytes.empty()) q.car.bytes = parse_entity_bytes(q.entity_bytes);
  std::string dups = param("car-dups").value_or("");
  if (dups.empty() && contains(accept, "dups=y")) dups = "y";
  if (!dups.empty() && dups != "y" && dups != "n") fail(ErrorKind::InvalidArgument, "car-dups must be y or n");
  q.car.dups = dups == "y";
}

}  // namespace

std::string GatewayQuery::ipfs_path() const {
  return "/ipfs/" + root_text + (path.empty() ? "" : "/" + path);
}

std::string GatewayQuery::etag() const {
  if (format == GatewayFormat::Raw) return "\"" + root_text + ".raw\"";
  std::string variant;
  if (car.scope != DagScope::All || car.bytes)
    variant += car.scope == DagScope::Block && !car.bytes ? ".block" : ".entity";
  if (car.bytes) variant += "." + entity_bytes;
  if (car.dups) variant += ".dups";
  return "\"" + root_text + ".car" + variant + "\"";
}

GatewayQuery negotiate_gateway_query(std::string_view target, std::string_view accept, const QueryParam& param) {
  GatewayQuery q;
  const size_t slash = target.find('/');
  q.root_text = std::string(target.substr(0, slash));
  q.path = slash == std::string_view::npos ? "" : std::string(target.substr(slash + 1));
  while (!q.path.empty() && q.path.back() == '/') q.path.pop_back();
  try {
    q.root = Cid::parse(q.root_text);
  } catch (const Error& e) {
    throw Error(ErrorKind::InvalidArgument, e.what());  // whatever is wrong with it, the request named it
  }

  if (std::optional<std::string> f = param("format")) {
    if (*f == "raw")
      q.format = GatewayFormat::Raw;
    else if (*f == "car")
      q.format = GatewayFormat::Car;
    else
      fail(ErrorKind::InvalidArgument, "unsupported format \"{}\" (raw or car)", *f);
  } else if (contains(accept, "application/vnd.ipld.raw")) {
    q.format = GatewayFormat::Raw, q.from_accept = true;
  } else if (contains(accept, "application/vnd.ipld.car")) {
    q.format = GatewayFormat::Car, q.from_accept = true;
  } else {
    fail(ErrorKind::InvalidArgument,
         "this is a trustless gateway: ask for ?format=raw|car or an application/vnd.ipld.* Accept");
  }

  if (q.format == GatewayFormat::Raw) {
    if (!q.path.empty()) fail(ErrorKind::InvalidArgument, "format=raw takes a CID without a path");
  } else {
    negotiate_car(q, accept, param);
  }
  return q;
}

}  // namespace ia::ipfs
