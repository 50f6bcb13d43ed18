#include "server/model_server.h"

#include <sys/socket.h>

#include <thread>

#include "core/error.h"
#include "core/logging.h"
#include "ipfs/gateway_connections.h"
#include "ipfs/gateway_routes.h"
#include "ipfs/repo.h"
#include "router/model_placement.h"
#include "server/api_error.h"
#include "server/routes.h"
#include "server/server_state.h"

namespace ia::server {

namespace {

// The connection bounds of the gateway's server (ipfs/gateway_connections.h), sized for a
// model server: many long streams from few addresses (a proxy), bodies up to the request bound.
ipfs::GatewayLimits connection_limits(const ServeOptions& o) {
  ipfs::GatewayLimits l;
  l.max_connections = o.max_connections;
  l.max_connections_per_address = 0;
  l.request_read_timeout = o.request_read_timeout;
  l.write_timeout = o.write_timeout;
  l.idle_timeout = std::chrono::milliseconds(5'000);
  l.max_request_body = o.max_request_bytes;
  return l;
}

// Unknown routes (and httplib's own refusals, which come without a body) in OpenAI's shape.
httplib::Server::HandlerResponse answer_unrouted(ServerState& state, const httplib::Request& req,
                                                 httplib::Response& res) {
  if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
  ErrorResponse e;
  if (res.status == 404) {
    const std::string path = req.path.size() > 200 ? req.path.substr(0, 200) + "..." : req.path;
    e = error_response(ApiError(404, "invalid_request_error", "not_found", "no route " + req.method + " " + path));
  } else if (res.status == 413) {
    e = error_response(ApiError(413, "invalid_request_error", "request_too_large",
                                "the request body is larger than " + std::to_string(state.options.max_request_bytes) +
                                    " bytes (--max-request-bytes)"));
  } else {
    e = error_response(ApiError(res.status, "invalid_request_error", "bad_request", "the request could not be read"));
  }
  for (const auto& [k, v] : e.headers) res.set_header(k, v);
  res.set_content(e.body + "\n", "application/json");
  state.metrics.add(metric::kRequests, {{"route", "unmatched"}, {"status", std::to_string(res.status)}});
  return httplib::Server::HandlerResponse::Handled;
}

}  // namespace

struct ModelServer::Impl {
  explicit Impl(ServeOptions o)
      : state(std::move(o)), http(connection_limits(state.options), &ipfs::GatewayRoutes::take_ranges) {
    if (state.options.ipfs_gateway) {
      repo = std::make_unique<ipfs::Repo>();
      gateway = std::make_unique<ipfs::GatewayRoutes>(repo->blocks(), connection_limits(state.options));
    }
  }
  ServerState state;
  std::unique_ptr<ipfs::Repo> repo;              // the blockstore the gateway routes answer from
  std::unique_ptr<ipfs::GatewayRoutes> gateway;  // before the server: its responses hand buffers back
  ipfs::BoundedHttpServer http;
};

ModelServer::ModelServer(ServeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  ServerState& s = impl_->state;
  httplib::Server& http = impl_->http;
  // Streamed tokens are small writes: without TCP_NODELAY each waits for the client's delayed
  // ACK (about 40 ms on a kept-alive connection), most of a GPU's time-to-first-token budget.
  http.set_tcp_nodelay(true);
  add_generation_routes(http, s);
  add_embedding_routes(http, s);
  add_tokenizer_routes(http, s);
  add_audio_routes(http, s);
  add_image_routes(http, s);
  add_zero_shot_routes(http, s);
  add_info_routes(http, s);
  add_dashboard_routes(http, s);
  if (impl_->gateway) impl_->gateway->mount(http);
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [&s](const httplib::Request& req, httplib::Response& res) { return answer_unrouted(s, req, res); }));
}

ModelServer::~ModelServer() {
  stop();
}

int ModelServer::bind() {
  const ServeOptions& o = impl_->state.options;
  const int bound =
      o.port == 0 ? impl_->http.bind_to_any_port(o.host) : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (bound >= 0) {
    // Clients come in bursts (a batch of requests, a benchmark's concurrency): let them queue.
    if (!impl_->http.set_listen_backlog(SOMAXCONN)) spdlog::warn("serve: could not enlarge the listen backlog");
    return bound;
  }
  if (o.port != 0 && ipfs::port_in_use(o.host, o.port))
    fail(ErrorKind::InvalidArgument, "port {} is in use on {} (another server listens there); pick another --port",
         o.port, o.host);
  fail(ErrorKind::Unavailable, "cannot listen on {}:{}", o.host, o.port);
}

void ModelServer::run() {
  impl_->http.listen_after_bind();
}

bool ModelServer::listening() const {
  return impl_->http.is_running();
}

void ModelServer::load_models() {
  ServerState& s = impl_->state;
  const ServeOptions* o = &s.options;  // the pool's loaders use it while the state lives
  MetricsRegistry* metrics = &s.metrics;
  if (!o->providers_file.empty()) s.router = router::Router::from_file(o->providers_file, providers::process_env());
  for (size_t i = 0; i < o->models.size(); ++i) {
    const std::string source = o->models[i];
    const std::string dir = router::resolve_model_dir(source);
    std::string name = i < o->served_model_names.size() ? o->served_model_names[i] : "";
    if (name.empty()) name = default_served_name(source, dir);
    if (s.pool.declared(name))
      fail(ErrorKind::InvalidArgument, "two models are served as `{}`; name them with --served-model-name", name);
    ModelSource from;
    from.plan = [dir, o] {
      const ServedModelPlacement p = place_served_model(dir, *o);
      return ModelLoadPlan{p.device, p.weights_bytes + p.kv_min_bytes, p.weights_bytes + p.kv_wanted_bytes};
    };
    from.load = [source, dir, name, o, metrics](const ModelLoadPlan& plan, std::optional<int64_t> room) {
      ServedModelPlacement where = place_served_model(dir, *o);
      where.device = plan.device;  // where the pool made room
      std::shared_ptr<ServedModel> m = load_served_model(source, dir, name, where, *o, metrics, room);
      LoadedModel loaded;
      loaded.kv_cache_bytes = m->kv_cache_bytes;
      loaded.model = std::move(m);
      return loaded;
    };
    s.pool.declare(name, std::move(from));
    // Every model loads once at startup, so that one that cannot load stops the server now; a
    // later one may unload it again to make room (--max-memory, --low-memory).
    const ModelLease first = s.pool.acquire(name);
    s.models.push_back(declared_model(first.get<ServedModel>()));
  }
  s.ready = true;
}

int ModelServer::drain(std::chrono::milliseconds grace) {
  ServerState& s = impl_->state;
  s.draining = true;
  for (const ServedLease& m : s.loaded_models()) {
    if (m->generation) m->generation->drain();
    if (m->embedding) m->embedding->drain();
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (s.in_flight > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int left = s.in_flight;
  // Past the grace period what still runs is cancelled (a stream ends, a whole answer returns
  // its text so far), so that stopping does not wait for any max_tokens.
  if (left > 0)
    for (const ServedLease& m : s.loaded_models())
      if (m->generation) m->generation->abort();
  return left;
}

void ModelServer::stop() {
  if (impl_) impl_->http.stop();
}

const ServerState& ModelServer::state() const {
  return impl_->state;
}

}  // namespace ia::server
