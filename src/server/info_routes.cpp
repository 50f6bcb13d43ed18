// GET /v1/models, /v1/pool, /health, /metrics and TEI's /info.
#include "router/result_json.h"
#include "server/api_error.h"
#include "server/route_handler.h"
#include "server/routes.h"

namespace ia::server {

namespace {

using nlohmann::json;

void models(ServerState& s, httplib::Response& res) {
  json data = json::array();
  const std::vector<PooledModelStatus> pooled = s.pool.status();
  for (const auto& m : s.models) {
    json entry{{"id", m.name},
               {"object", "model"},
               {"created", m.created},
               {"owned_by", "ipfs-accelerate"},
               {"max_model_len", m.max_model_len},
               {"task", m.task},
               {"dtype", m.dtype}};
    // The resource pool's view of it (GET /v1/pool has the whole of it).
    for (const auto& p : pooled)
      if (p.name == m.name) {
        entry["device"] = p.device;
        entry["loaded"] = p.loaded;
        entry["bytes"] = p.total_bytes();
        entry["in_flight"] = p.in_flight;
        entry["last_used"] = p.last_used ? json(*p.last_used) : json(nullptr);
      }
    data.push_back(std::move(entry));
  }
  if (s.router) {
    // Routed names (serve --providers), with the deployments that may answer them.
    const json status = s.router->status_json();
    for (const auto& r : status["routes"]) {
      json deployments = json::array();
      for (const auto& d : r["deployments"]) deployments.push_back(d["deployment"]);
      data.push_back(json{{"id", r["model"]},
                          {"object", "model"},
                          {"created", 0},
                          {"owned_by", "router"},
                          {"deployments", deployments}});
    }
  }
  send_json(res, router::dump_json(json{{"object", "list"}, {"data", data}}));
}

// TEI's /info for the first embedding model (TEI serves one), else the first model.
void tei_info(ServerState& s, httplib::Response& res) {
  if (s.models.empty()) throw unavailable("no_local_model", "this server serves routed models only (--providers)");
  const DeclaredModel* m = nullptr;
  for (const auto& candidate : s.models)
    if (candidate.embeds) {
      m = &candidate;
      break;
    }
  if (!m) m = &s.models.front();
  json model_type = m->embeds ? json{{"embedding", json{{"pooling", m->pooling}}}} : json{{m->serves, json::object()}};
  json out{{"model_id", m->name},
           {"model_sha", nullptr},
           {"model_dtype", m->dtype},
           {"model_type", model_type},
           {"max_concurrent_requests", s.options.max_connections},
           {"max_input_length", m->max_model_len},
           {"max_batch_tokens", s.options.max_batch_tokens},
           {"max_batch_requests", nullptr},
           {"max_client_batch_size", s.limits.max_inputs},
           {"auto_truncate", false},
           {"tokenization_workers", 1},
           {"version", "0.1.0"},
           {"sha", nullptr},
           {"docker_label", nullptr}};
  send_json(res, router::dump_json(out));
}

}  // namespace

void add_info_routes(httplib::Server& http, ServerState& state) {
  add_get_route(http, state, "/v1/models",
                [&state](const httplib::Request&, httplib::Response& res) { models(state, res); });
  // The router's live state (serve --providers): breakers, queues, keys by source, counters.
  add_get_route(http, state, "/v1/providers/status", [&state](const httplib::Request&, httplib::Response& res) {
    if (!state.router) throw unavailable("no_router", "this server has no --providers file");
    send_json(res, router::dump_json(state.router->status_json()));
  });
  // The resource pool: what is loaded where, its memory, leases in flight, limits.
  add_get_route(http, state, "/v1/pool", [&state](const httplib::Request&, httplib::Response& res) {
    json out = state.pool.status_json();
    out["low_memory"] = state.options.low_memory;
    send_json(res, router::dump_json(out));
  });
  add_get_route(http, state, "/info",
                [&state](const httplib::Request&, httplib::Response& res) { tei_info(state, res); });
  // Health and metrics answer without a key (probes and scrapers); health says 503 until ready.
  add_get_route(
      http, state, "/health",
      [&state](const httplib::Request&, httplib::Response& res) {
        if (state.draining) throw unavailable("server_draining", "the server is shutting down");
        if (!state.ready) throw unavailable("model_loading", "the models are still loading");
        send_json(res, "{\"status\":\"ok\"}");
      },
      RouteOptions{.needs_key = false, .needs_ready = false, .tei_errors = nullptr});
  add_get_route(
      http, state, "/metrics",
      [&state](const httplib::Request&, httplib::Response& res) {
        state.update_load_gauges();
        res.status = 200;
        std::string text = state.metrics.render();
        if (state.ready && state.router) text += state.router->prometheus_text();
        res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
      },
      RouteOptions{.needs_key = false, .needs_ready = false, .tei_errors = nullptr});
}

}  // namespace ia::server
