// The gateway's request path in three steps: negotiate what is asked
// (gateway_negotiation.h), answer it (a raw block, or a CAR streamed one block
// at a time), and map any error to its status and JSON body through
// core/error_outcome.h, the map every HTTP edge uses. Connections are
// bounded by gateway_connections.h; Range is answered here, never by httplib.
#include "ipfs/gateway_server.h"

#include <httplib.h>

#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/error_outcome.h"
#include "core/logging.h"
#include "ipfs/car.h"
#include "ipfs/car_selection.h"
#include "ipfs/gateway_connections.h"
#include "ipfs/gateway_negotiation.h"
#include "ipfs/gateway_ranges.h"
#include "ipfs/gateway_routes.h"
#include "ipfs/varint.h"

namespace ia::ipfs {

namespace {

// The Range entries of the request this worker thread is answering. They are
// taken out of the request before routing, because httplib would otherwise
// slice every answer itself, building a multipart body of any size in memory
// (1,900 overlapping entries of a 256 KiB block: ~500 MB).
thread_local std::vector<RangeEntry> t_ranges;

// Block buffers reused across blocks and requests. A block read into a fresh
// buffer each time costs an mmap, ~64 page faults and an munmap per 256 KiB
// block (glibc maps anything past 128 KiB); that and httplib's per-chunk
// strings were most of the gateway's CPU. A request takes one buffer for its
// whole answer and gives it back when its Response is destroyed, so a server
// holds as many as it has served requests at once, whichever workers served them.
class BlockBuffers {
 public:
  std::shared_ptr<Bytes> take() {
    std::unique_ptr<Bytes> b;
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        b = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!b) b = std::make_unique<Bytes>();
    return {b.release(), [this](Bytes* p) { give_back(std::unique_ptr<Bytes>(p)); }};
  }

 private:
  void give_back(std::unique_ptr<Bytes> b) {
    if (b->capacity() > kKeepCapacity) return;  // an outsized block is not kept for every later request
    std::lock_guard lock(mu_);
    free_.push_back(std::move(b));
  }
  static constexpr size_t kKeepCapacity = kMaxBlockSize + 4096;
  std::mutex mu_;
  std::vector<std::unique_ptr<Bytes>> free_;
};

// HTTP/1.1 chunked framing, written here rather than by httplib: its chunked
// writer copies every chunk into two or three new strings (payload, then
// size + payload + CRLF), each as large as the block. Here a block goes to
// the socket from the buffer it was read into; only its small framing is built.
void append_chunk_size(Bytes& out, size_t size) {
  out += fmt::format("{:x}\r\n", size);
}

void common_headers(httplib::Response& res, const GatewayQuery& q) {
  res.set_header("Cache-Control", "public, max-age=29030400, immutable");
  res.set_header("X-Ipfs-Path", q.ipfs_path());
  res.set_header("X-Ipfs-Roots", q.root_text);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Vary", "Accept");
}

// Headers every answer carries, then true when the client's copy is current (304, no body).
bool answer_headers(const httplib::Request& req, httplib::Response& res, const GatewayQuery& q, const char* ext) {
  const std::string etag = q.etag();
  common_headers(res, q);
  res.set_header("Etag", etag);
  res.set_header("Content-Disposition", "attachment; filename=\"" + q.root_text + ext + "\"");
  if (q.from_accept)
    res.set_header("Content-Location",
                   q.ipfs_path() + (q.format == GatewayFormat::Raw ? "?format=raw" : "?format=car"));
  if (req.get_header_value("If-None-Match") != etag) return false;
  res.status = 304;
  return true;
}

void require_root(Blockstore& store, const Cid& root) {
  if (!store.has(root.hash)) fail(ErrorKind::NotFound, "block {} not found", root.to_string());
}

void respond_error(httplib::Response& res, int status, const ErrorOutcome& outcome);

std::string random_boundary() {
  std::random_device rd;
  std::string b;
  for (int i = 0; i < 4; ++i) b += fmt::format("{:08x}", rd());
  return b;
}

// 206 with the spans of `block` asked for (one span, or multipart/byteranges:
// at most the block plus one part header per span), 416 when none is satisfiable
// or the header has more than max_ranges entries.
void respond_ranges(httplib::Response& res, const Bytes& block, const GatewayLimits& limits) {
  const std::string content_range_size = "/" + std::to_string(block.size());
  std::vector<ByteSpan> spans;
  if (t_ranges.size() <= limits.max_ranges) spans = resolve_ranges(t_ranges, block.size());
  if (spans.empty()) {
    res.set_header("Content-Range", "bytes *" + content_range_size);
    const std::string why = t_ranges.size() > limits.max_ranges
                                ? fmt::format("at most {} ranges are served in one request", limits.max_ranges)
                                : std::string("no requested range is within the block");
    respond_error(res, 416, {ErrorKind::InvalidArgument, why});
    return;
  }
  res.status = 206;
  auto range_text = [&](const ByteSpan& s) {
    return "bytes " + std::to_string(s.first) + "-" + std::to_string(s.last) + content_range_size;
  };
  if (spans.size() == 1) {
    res.set_header("Content-Range", range_text(spans[0]));
    res.set_content(block.data() + spans[0].first, spans[0].size(), "application/vnd.ipld.raw");
    return;
  }
  const std::string boundary = random_boundary();
  std::string body;
  for (const ByteSpan& s : spans) {
    body +=
        "--" + boundary + "\r\nContent-Type: application/vnd.ipld.raw\r\nContent-Range: " + range_text(s) + "\r\n\r\n";
    body.append(block.data() + s.first, s.size());
    body += "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  res.set_content(std::move(body), "multipart/byteranges; boundary=" + boundary);
}

void respond_raw(Blockstore& store, BlockBuffers& buffers, const httplib::Request& req, httplib::Response& res,
                 const GatewayQuery& q, const GatewayLimits& limits) {
  require_root(store, q.root);
  std::shared_ptr<Bytes> block = buffers.take();
  load_block_into(store, q.root, *block);
  if (answer_headers(req, res, q, ".bin")) return;
  res.set_header("Accept-Ranges", "bytes");
  if (!t_ranges.empty()) {
    respond_ranges(res, *block, limits);
    return;
  }
  if (block->empty()) {  // httplib's providers need a length > 0
    res.set_content(*block, "application/vnd.ipld.raw");
    return;
  }
  // Sent from the buffer it was read into (set_content would copy it into the body).
  const size_t size = block->size();
  res.set_content_provider(size, "application/vnd.ipld.raw",
                           [block = std::move(block)](size_t offset, size_t length, httplib::DataSink& sink) {
                             sink.write(block->data() + offset, length);
                             return true;  // a failed write is httplib's to see
                           });
}

// Streams the CAR one block at a time: memory holds one block (in a reused
// buffer) and the DFS stack, never the DAG. The body is chunked by hand (see
// append_chunk_size), one chunk per section. Errors past the header cannot
// change the status any more, so a block that vanished or is corrupt cuts the
// stream before its last chunk: the client sees an incomplete CAR, which it
// cannot mistake for a whole one.
class CarChunks {
 public:
  CarChunks(const Cid& root, std::shared_ptr<CarBlockSequence> seq, std::shared_ptr<Bytes> block)
      : root_(root), seq_(std::move(seq)), block_(std::move(block)) {}

  // httplib's provider: one chunk per call, the last chunk after the last section.
  bool operator()(httplib::DataSink& sink) {
    if (!header_sent_) {
      const Bytes header = encode_car_header({root_});
      append_chunk_size(frame_, header.size());
      frame_ += header;
      header_sent_ = true;
      return sink.write(frame_.data(), frame_.size());
    }
    frame_.assign("\r\n");  // the CRLF ending the previous chunk goes out with this chunk's size line
    const Cid* cid = nullptr;
    try {
      cid = seq_->next(*block_);
    } catch (const std::exception& e) {
      spdlog::warn("gateway: CAR of {} cut short: {}", root_.to_string(), e.what());
      return false;  // no last chunk: the connection closes on an incomplete body
    }
    if (!cid) {
      frame_ += "0\r\n\r\n";
      sink.write(frame_.data(), frame_.size());
      sink.done();
      return true;
    }
    const Bytes& b = *block_;
    const Bytes cb = cid->bytes();
    const size_t section = cb.size() + b.size();
    append_chunk_size(frame_, varint_size(section) + section);
    append_varint(frame_, section);
    frame_ += cb;
    return sink.write(frame_.data(), frame_.size()) && sink.write(b.data(), b.size());
  }

 private:
  Cid root_;
  std::shared_ptr<CarBlockSequence> seq_;
  std::shared_ptr<Bytes> block_;
  Bytes frame_;  // a chunk's size line and section prefix (the block follows it from block_)
  bool header_sent_ = false;
};

void stream_car(httplib::Response& res, const Cid& root, bool dups, std::shared_ptr<CarBlockSequence> seq,
                std::shared_ptr<Bytes> block) {
  auto chunks = std::make_shared<CarChunks>(root, std::move(seq), std::move(block));
  // A provider without a length writes straight to the socket; the header
  // makes its output a chunked body, which the provider frames.
  res.set_header("Transfer-Encoding", "chunked");
  res.set_content_provider(std::string("application/vnd.ipld.car; version=1; order=dfs; dups=") + (dups ? "y" : "n"),
                           [chunks](size_t, httplib::DataSink& sink) { return (*chunks)(sink); });
}

void respond_car(Blockstore& store, BlockBuffers& buffers, const httplib::Request& req, httplib::Response& res,
                 const GatewayQuery& q) {
  require_root(store, q.root);
  // Resolves the path now: a missing name is still a 404 rather than a cut stream.
  auto seq = std::make_shared<CarBlockSequence>(store, q.root, q.path, q.car);
  if (answer_headers(req, res, q, ".car")) return;
  stream_car(res, q.root, q.car.dups, std::move(seq), buffers.take());
}

// An internal error's body says only "internal error" (http_error_body); an
// unavailable store's says only that, because its message is the store's (a
// filesystem error names local paths). Both are logged whole.
void respond_error(httplib::Response& res, int status, const ErrorOutcome& outcome) {
  ErrorOutcome shown = outcome;
  if (outcome.kind == ErrorKind::Unavailable) {
    spdlog::warn("gateway: unavailable: {}", outcome.message);
    shown.message = "the blockstore is unavailable; try again later";
  } else if (!outcome.is_user_error()) {
    spdlog::error("gateway: internal error: {}", outcome.message);
  }
  res.status = status;
  res.set_content(http_error_body(shown) + "\n", "application/json");
}

void handle(Blockstore& store, BlockBuffers& buffers, const GatewayLimits& limits, const httplib::Request& req,
            httplib::Response& res) {
  try {
    const QueryParam param = [&req](const char* name) -> std::optional<std::string> {
      if (!req.has_param(name)) return std::nullopt;
      return req.get_param_value(name);
    };
    const GatewayQuery q = negotiate_gateway_query(req.matches[1].str(), req.get_header_value("Accept"), param);
    if (q.format == GatewayFormat::Raw)
      respond_raw(store, buffers, req, res, q, limits);
    else
      respond_car(store, buffers, req, res, q);
  } catch (const NotAcceptable& e) {
    respond_error(res, 406, {e.kind(), e.what()});
  } catch (...) {
    const ErrorOutcome outcome = current_error_outcome();
    respond_error(res, http_status(outcome.kind), outcome);
  }
}

}  // namespace

struct GatewayRoutes::State {
  State(Blockstore& s, const GatewayLimits& l) : store(s), limits(l) {}
  Blockstore& store;
  const GatewayLimits limits;
  BlockBuffers buffers;
};

GatewayRoutes::GatewayRoutes(Blockstore& store, GatewayLimits limits)
    : state_(std::make_unique<State>(store, limits)) {}

GatewayRoutes::~GatewayRoutes() = default;

void GatewayRoutes::mount(httplib::Server& server) {
  State* s = state_.get();
  server.Get(R"(/ipfs/(.+))", [s](const httplib::Request& req, httplib::Response& res) {
    handle(s->store, s->buffers, s->limits, req, res);
  });
}

void GatewayRoutes::take_ranges(httplib::Request& req) {
  t_ranges = std::move(req.ranges);
  req.ranges = {};
}

struct GatewayServer::Impl {
  Impl(Blockstore& s, const GatewayLimits& l) : routes(s, l), server(l, &GatewayRoutes::take_ranges) {}
  GatewayRoutes routes;  // before the server: its responses hand buffers back to it
  BoundedHttpServer server;
};

GatewayServer::GatewayServer(Blockstore& store, GatewayLimits limits) : impl_(std::make_unique<Impl>(store, limits)) {
  impl_->routes.mount(impl_->server);
}

GatewayServer::~GatewayServer() {
  stop();
}

int GatewayServer::bind(const std::string& host, int port) {
  int bound = port == 0 ? impl_->server.bind_to_any_port(host) : (impl_->server.bind_to_port(host, port) ? port : -1);
  if (bound < 0 && port != 0 && port_in_use(host, port))
    fail(ErrorKind::InvalidArgument, "port {} is in use on {} (another server listens there); pick another --port",
         port, host);
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
