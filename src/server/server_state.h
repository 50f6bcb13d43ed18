#pragma once
// What every route of one server shares: the options, the models (declared and
// loaded once before `ready` is set; the resource pool may unload and load them
// again afterwards), the key check, the metrics, and the lifecycle flags behind
// 503 (loading, draining).
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "router/deployment_router.h"
#include "runtime/model_pool.h"
#include "server/api_keys.h"
#include "server/metric_names.h"
#include "server/metrics_registry.h"
#include "server/openai_requests.h"
#include "server/served_model.h"
#include "server/server_options.h"

namespace ia::server {

enum class ModelUse {
  Generation,
  Embedding,
  Tokenization,
  Transcription,
  ImageClassification,
  ObjectDetection,
  ZeroShotImageClassification,  // CLIP
  ZeroShotVideoClassification,  // X-CLIP
};

// A --model as the server knows it whether or not it is loaded: what its first load (at
// startup) found. Written before `ready`, read-only after.
struct DeclaredModel {
  std::string name, source;
  std::vector<ModelUse> uses;  // what it can be used for
  bool generates = false, has_chat_template = false, classifies_videos = false, embeds = false;
  std::string serves, task, dtype;
  std::string pooling;  // an embedding model's default pooling (TEI's /info)
  int64_t max_model_len = 0;
  int64_t created = 0;  // seconds since the epoch, of its first load
};

// What `m` is, as the server remembers it while the pool has it unloaded.
DeclaredModel declared_model(const ServedModel& m);

// A request's hold on its model: the pool does not unload the model while one lives.
class ServedLease {
 public:
  explicit ServedLease(ModelLease lease) : lease_(std::move(lease)), model_(&lease_.get<ServedModel>()) {}
  ServedModel& operator*() const { return *model_; }
  ServedModel* operator->() const { return model_; }

 private:
  ModelLease lease_;
  ServedModel* model_;
};

struct ServerState {
  explicit ServerState(ServeOptions o);

  ServeOptions options;
  RequestLimits limits;
  ApiKeys keys;
  MetricsRegistry metrics;
  ModelPool pool;                          // the loaded models (runtime/model_pool.h)
  std::vector<DeclaredModel> models;       // every --model, in order
  std::unique_ptr<router::Router> router;  // --providers: routed model names (set before `ready`)
  std::atomic<bool> ready{false}, draining{false};
  std::atomic<int> in_flight{0};  // requests being answered, streams included

  // The model named `name` ("": the first one fit for `use`), loaded if the pool had unloaded
  // it: 404 when none has the name, 400 naming the field when it cannot be used so (an
  // embedding model for chat), 503 (busy, Retry-After) or 507 (too large) when the pool has no
  // room for it, naming the sizes.
  ServedLease model_for(const std::string& name, ModelUse use);
  // Leases on the models loaded now, without counting as a use (metrics, draining).
  std::vector<ServedLease> loaded_models();
  std::string served_names() const;
  // The waiting / running gauges, read from the services (before /metrics renders).
  void update_load_gauges();
};

// Counts a request as in flight for as long as it lives (a stream's lives with its provider).
class InFlight {
 public:
  explicit InFlight(ServerState& s) : s_(s) { ++s_.in_flight; }
  ~InFlight() { --s_.in_flight; }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  ServerState& s_;
};

// One request at a time on a model's vision_mu (vision and two-tower models), its queue wait
// and inference time observed, what it allocates charged to the model's memory account;
// returns what `fn` returns.
template <typename Fn>
auto run_one_at_a_time(ServerState& s, ServedModel& m, std::chrono::steady_clock::time_point arrived, Fn&& fn) {
  std::lock_guard lock(*m.vision_mu);
  ChargeMemoryTo charge(m.memory);
  const auto started = std::chrono::steady_clock::now();
  s.metrics.observe(metric::kQueueSeconds, {{"model", m.name}},
                    std::chrono::duration<double>(started - arrived).count());
  auto out = fn();
  s.metrics.observe(metric::kInferenceSeconds, {{"model", m.name}},
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return out;
}

}  // namespace ia::server
