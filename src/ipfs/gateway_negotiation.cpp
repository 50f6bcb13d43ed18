#include "ipfs/gateway_negotiation.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

namespace ia::ipfs {

namespace {

constexpr std::string_view kRawType = "application/vnd.ipld.raw";
constexpr std::string_view kCarType = "application/vnd.ipld.car";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// One media range of an Accept header: its type, q (1 unless written) and its
// other parameters as written ("version=1; order=dfs").
struct AcceptEntry {
  std::string_view type;
  double q = 1;
  std::string_view params;
};

// A q outside 0..1 or not a number makes the entry malformed: it is skipped.
// from_chars reads "nan", which compares false both ways: it would pass a
// range test written as q < 0 || q > 1 and then win over every real q.
std::optional<double> parse_q(std::string_view v) {
  double q = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), q);
  if (ec != std::errc() || end != v.data() + v.size() || !(q >= 0 && q <= 1)) return std::nullopt;
  return q;
}

std::vector<AcceptEntry> parse_accept(std::string_view accept) {
  std::vector<AcceptEntry> out;
  while (!accept.empty()) {
    const size_t comma = accept.find(',');
    std::string_view item = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view{} : accept.substr(comma + 1);
    const size_t semi = item.find(';');
    AcceptEntry e{trim(item.substr(0, semi)), 1, semi == std::string_view::npos ? "" : item.substr(semi + 1)};
    bool malformed = false;
    for (std::string_view rest = e.params; !rest.empty();) {
      const size_t next = rest.find(';');
      std::string_view p = trim(rest.substr(0, next));
      rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
      if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
        std::optional<double> q = parse_q(trim(p.substr(2)));
        malformed = malformed || !q;  // a later valid q does not repair an earlier bad one
        e.q = q.value_or(0);
      }
    }
    if (!malformed && !e.type.empty()) out.push_back(e);
  }
  return out;
}

// The value of `name=` among an Accept entry's parameters, empty when absent.
std::string accept_param(std::string_view params, std::string_view name) {
  for (std::string_view rest = params; !rest.empty();) {
    const size_t next = rest.find(';');
    std::string_view p = trim(rest.substr(0, next));
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
    const size_t eq = p.find('=');
    if (eq != std::string_view::npos && iequals(trim(p.substr(0, eq)), name))
      return std::string(trim(p.substr(eq + 1)));
  }
  return "";
}

// The CAR parameters: ?car-version / ?car-order / ?car-dups, else the chosen
// Accept entry's version= / order= / dups=.
void negotiate_car(GatewayQuery& q, std::string_view accept_params, const QueryParam& param) {
  std::string version = param("car-version").value_or("");
  if (version.empty()) version = accept_param(accept_params, "version");
  if (!version.empty() && version != "1") throw NotAcceptable("only CARv1 is served");
  std::string order = param("car-order").value_or("");
  if (order.empty()) order = accept_param(accept_params, "order");
  if (!order.empty() && order != "dfs" && order != "unk") throw NotAcceptable("only order=dfs is served");

  q.car.scope = parse_dag_scope(param("dag-scope").value_or("all"));
  q.entity_bytes = param("entity-bytes").value_or("");
  if (!q.entity_bytes.empty()) q.car.bytes = parse_entity_bytes(q.entity_bytes);
  std::string dups = param("car-dups").value_or("");
  if (dups.empty() && accept_param(accept_params, "dups") == "y") dups = "y";
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

  std::string_view car_params;
  if (std::optional<std::string> f = param("format")) {
    if (*f == "raw")
      q.format = GatewayFormat::Raw;
    else if (*f == "car")
      q.format = GatewayFormat::Car;
    else
      fail(ErrorKind::InvalidArgument, "unsupported format \"{}\" (raw or car)", *f);
    for (const AcceptEntry& e : parse_accept(accept))
      if (iequals(e.type, kCarType) && e.q > 0) car_params = e.params;
  } else {
    // The ipld type with the highest q wins (the first written on a tie); q=0 means "not this".
    const AcceptEntry* best = nullptr;
    bool refused = false;
    std::vector<AcceptEntry> entries = parse_accept(accept);
    for (const AcceptEntry& e : entries) {
      if (!iequals(e.type, kRawType) && !iequals(e.type, kCarType)) continue;
      if (e.q <= 0)
        refused = true;
      else if (!best || e.q > best->q)
        best = &e;
    }
    if (!best && refused) throw NotAcceptable("every verifiable format this gateway serves was refused with q=0");
    if (!best)
      fail(ErrorKind::InvalidArgument,
           "this is a trustless gateway: ask for ?format=raw|car or an application/vnd.ipld.* Accept");
    q.format = iequals(best->type, kRawType) ? GatewayFormat::Raw : GatewayFormat::Car;
    q.from_accept = true;
    car_params = best->params;
  }

  if (q.format == GatewayFormat::Raw) {
    if (!q.path.empty()) fail(ErrorKind::InvalidArgument, "format=raw takes a CID without a path");
  } else {
    negotiate_car(q, car_params, param);
  }
  return q;
}

}  // namespace ia::ipfs
