#include "ipfs/gateway_server.h"

#include <httplib.h>

#include "core/error.h"
#include "ipfs/car.h"
#include "ipfs/dag.h"
#include "ipfs/dag_pb.h"
#include "ipfs/exporter.h"
#include "ipfs/hamt.h"
#include "ipfs/unixfs.h"
#include "ipfs/varint.h"

namespace ia::ipfs {

namespace {

enum class Format { Raw, Car };

void common_headers(httplib::Response& res, const std::string& ipfs_path, const std::string& roots) {
  res.set_header("Cache-Control", "public, max-age=29030400, immutable");
  res.set_header("X-Ipfs-Path", ipfs_path);
  res.set_header("X-Ipfs-Roots", roots);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Vary", "Accept");
}

void error(httplib::Response& res, int status, const std::string& msg) {
  res.status = status;
  res.set_content(msg + "\n", "text/plain; charset=utf-8");
}

// The CIDs of the blocks that lead from `root` along `path` (the root and each
// directory passed through), and the CID the path ends at.
std::pair<std::vector<Cid>, Cid> resolve_with_blocks(Blockstore& store, const Cid& root, const std::string& path) {
  std::vector<Cid> on_path;
  Cid cur = root;
  std::string_view rest = path;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string seg(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (seg.empty()) continue;
    on_path.push_back(cur);
    cur = resolve_path(store, cur, seg);
  }
  return {on_path, cur};
}

// The blocks of the requested scope, in CAR order (DFS pre-order, no duplicates).
std::vector<Cid> scope_blocks(Blockstore& store, const Cid& target, const std::string& scope) {
  std::vector<Cid> out;
  if (scope == "block") return {target};
  if (scope == "entity" && target.codec == kCodecDagPb) {
    PbNode n = decode_pb_node(load_block(store, target));
    UnixfsData d = n.data ? decode_unixfs(*n.data) : UnixfsData{};
    if (d.type == UnixfsType::Directory) return {target};
    if (d.type == UnixfsType::HamtShard) {
      // The shard nodes, not the entries.
      walk_dag(store, target, [&](const Cid& c, const Bytes& b) {
        if (c.codec != kCodecDagPb) return;
        PbNode sn = decode_pb_node(b);
        if (sn.data && decode_unixfs(*sn.data).type == UnixfsType::HamtShard) out.push_back(c);
      });
      return out;
    }
  }
  walk_dag(store, target, [&](const Cid& c, const Bytes&) { out.push_back(c); });
  return out;
}

void handle(Blockstore& store, const httplib::Request& req, httplib::Response& res) {
  std::string rest = req.matches[1];
  size_t slash = rest.find('/');
  std::string cid_text = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (!path.empty() && path.back() == '/') path.pop_back();
  Cid root;
  try {
    root = Cid::parse(cid_text);
  } catch (const Error& e) {
    return error(res, 400, e.what());
  }
  // ?format wins over Accept.
  std::optional<Format> fmt;
  bool from_accept = false;
  std::string accept = req.get_header_value("Accept");
  if (req.has_param("format")) {
    std::string f = req.get_param_value("format");
    if (f == "raw")
      fmt = Format::Raw;
    else if (f == "car")
      fmt = Format::Car;
    else
      return error(res, 400, "unsupported format \"" + f + "\" (raw or car)");
  } else if (accept.find("application/vnd.ipld.raw") != std::string::npos) {
    fmt = Format::Raw, from_accept = true;
  } else if (accept.find("application/vnd.ipld.car") != std::string::npos) {
    fmt = Format::Car, from_accept = true;
  }
  if (!fmt)
    return error(res, 400, "this is a trustless gateway: ask for ?format=raw|car or an application/vnd.ipld.* Accept");
  if (*fmt == Format::Car) {
    std::string v = req.has_param("car-version") ? req.get_param_value("car-version") : "";
    if (v.empty() && accept.find("version=2") != std::string::npos) v = "2";
    if (!v.empty() && v != "1") return error(res, 406, "only CARv1 is served");
    std::string order = req.has_param("car-order") ? req.get_param_value("car-order") : "";
    if (size_t p = accept.find("order="); order.empty() && p != std::string::npos) {
      order = accept.substr(p + 6, accept.find_first_of(";, ", p + 6) - (p + 6));
    }
    if (!order.empty() && order != "dfs" && order != "unk") return error(res, 406, "only order=dfs is served");
  }
  std::string ipfs_path = "/ipfs/" + cid_text + (path.empty() ? "" : "/" + path);
  try {
    if (*fmt == Format::Raw) {
      if (!path.empty()) return error(res, 400, "format=raw takes a CID without a path");
      if (!store.has(root.hash)) return error(res, 404, "block " + root.to_string() + " not found");
      Bytes block = load_block(store, root);
      common_headers(res, ipfs_path, cid_text);
      res.set_header("Etag", "\"" + cid_text + ".raw\"");
      res.set_header("Content-Disposition", "attachment; filename=\"" + cid_text + ".bin\"");
      if (from_accept) res.set_header("Content-Location", ipfs_path + "?format=raw");
      if (req.get_header_value("If-None-Match") == "\"" + cid_text + ".raw\"") {
        res.status = 304;
        return;
      }
      res.set_content(block, "application/vnd.ipld.raw");
      return;
    }
    std::string scope = req.has_param("dag-scope") ? req.get_param_value("dag-scope") : "all";
    if (scope != "all" && scope != "entity" && scope != "block")
      return error(res, 400, "unknown dag-scope \"" + scope + "\"");
    if (!store.has(root.hash)) return error(res, 404, "block " + root.to_string() + " not found");
    auto [on_path, target] = resolve_with_blocks(store, root, path);
    std::vector<Cid> blocks = on_path;
    for (auto& c : scope_blocks(store, target, scope)) blocks.push_back(std::move(c));
    std::string etag = "\"" + cid_text + ".car\"";
    common_headers(res, ipfs_path, cid_text);
    res.set_header("Etag", etag);
    if (from_accept) res.set_header("Content-Location", ipfs_path + "?format=car");
    if (req.get_header_value("If-None-Match") == etag) {
      res.status = 304;
      return;
    }
    // Streamed one block at a time: memory holds the CID list, never the DAG.
    auto header = std::make_shared<Bytes>(encode_car_header({root}));
    auto list = std::make_shared<std::vector<Cid>>(std::move(blocks));
    auto next = std::make_shared<size_t>(0);
    res.set_chunked_content_provider(
        "application/vnd.ipld.car; version=1; order=dfs; dups=n",
        [&store, header, list, next](size_t, httplib::DataSink& sink) {
          if (!header->empty()) {
            sink.write(header->data(), header->size());
            header->clear();
            return true;
          }
          if (*next == list->size()) {
            sink.done();
            return true;
          }
          const Cid& c = (*list)[(*next)++];
          try {
            Bytes block = load_block(store, c);
            Bytes cb = c.bytes();
            Bytes section = encode_varint(cb.size() + block.size()) + cb + block;
            sink.write(section.data(), section.size());
            return true;
          } catch (const Error&) {
            return false;  // a block vanished: cut the stream, the client sees an incomplete CAR
          }
        });
  } catch (const Error& e) {
    int status = e.kind() == ErrorKind::NotFound ? 404 : e.kind() == ErrorKind::InvalidArgument ? 400 : 500;
    if (e.kind() == ErrorKind::Corrupt || e.kind() == ErrorKind::Unsupported) status = 502;
    return error(res, status, e.what());
  }
}

}  // namespace

struct GatewayServer::Impl {
  explicit Impl(Blockstore& s) : store(s) {}
  Blockstore& store;
  httplib::Server server;
};

GatewayServer::GatewayServer(Blockstore& store) : impl_(std::make_unique<Impl>(store)) {
  impl_->server.Get(R"(/ipfs/(.+))",
                    [this](const httplib::Request& req, httplib::Response& res) { handle(impl_->store, req, res); });
}

GatewayServer::~GatewayServer() {
  stop();
}

int GatewayServer::bind(const std::string& host, int port) {
  int bound = port == 0 ? impl_->server.bind_to_any_port(host) : (impl_->server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) fail(ErrorKind::Unavailable, "cannot listen on {}:{}", host, port);
  return bound;
}

void GatewayServer::run() {
  impl_->server.listen_after_bind();
}

void GatewayServer::stop() {
  if (impl_) impl_->server.stop();
}

}  // namespace ia::ipfs
