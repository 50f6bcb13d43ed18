#include "ipfs/gateway_server.h"

#include <httplib.h>

#include "core/error.h"
#include "ipfs/car.h"
#include "ipfs/car_selection.h"
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
    CarSelection sel;
    sel.scope = parse_dag_scope(req.has_param("dag-scope") ? req.get_param_value("dag-scope") : "all");
    std::string bytes_text = req.has_param("entity-bytes") ? req.get_param_value("entity-bytes") : "";
    if (!bytes_text.empty()) sel.bytes = parse_entity_bytes(bytes_text);
    std::string dups = req.has_param("car-dups") ? req.get_param_value("car-dups") : "";
    if (dups.empty() && accept.find("dups=y") != std::string::npos) dups = "y";
    if (!dups.empty() && dups != "y" && dups != "n") return error(res, 400, "car-dups must be y or n");
    sel.dups = dups == "y";
    if (!store.has(root.hash)) return error(res, 404, "block " + root.to_string() + " not found");
    // Resolves the path now: a missing name is still a 404 rather than a cut stream.
    auto seq = std::make_shared<CarBlockSequence>(store, root, path, sel);
    // The Etag names everything that shapes the bytes (spec: scope, entity-bytes; here dups too).
    std::string variant;
    if (sel.scope != DagScope::All || sel.bytes)
      variant += sel.bytes ? ".entity" : sel.scope == DagScope::Block ? ".block" : ".entity";
    if (sel.bytes) variant += "." + bytes_text;
    if (sel.dups) variant += ".dups";
    std::string etag = "\"" + cid_text + ".car" + variant + "\"";
    common_headers(res, ipfs_path, cid_text);
    res.set_header("Etag", etag);
    res.set_header("Content-Disposition", "attachment; filename=\"" + cid_text + ".car\"");
    if (from_accept) res.set_header("Content-Location", ipfs_path + "?format=car");
    if (req.get_header_value("If-None-Match") == etag) {
      res.status = 304;
      return;
    }
    // Streamed one block at a time: memory holds one block and the DFS stack, never the DAG.
    auto header = std::make_shared<Bytes>(encode_car_header({root}));
    res.set_chunked_content_provider(
        std::string("application/vnd.ipld.car; version=1; order=dfs; dups=") + (sel.dups ? "y" : "n"),
        [header, seq](size_t, httplib::DataSink& sink) {
          if (!header->empty()) {
            sink.write(header->data(), header->size());
            header->clear();
            return true;
          }
          try {
            auto b = seq->next();
            if (!b) {
              sink.done();
              return true;
            }
            Bytes cb = b->first.bytes();
            Bytes prefix = encode_varint(cb.size() + b->second.size()) + cb;
            sink.write(prefix.data(), prefix.size());
            sink.write(b->second.data(), b->second.size());
            return true;
          } catch (const Error&) {
            return false;  // a block vanished or is corrupt: cut the stream, the client sees an incomplete CAR
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
