#pragma once
// What every route of one server shares: the options, the models (loaded
// before `ready` is set and read-only after), the key check, the metrics, and
// the lifecycle flags behind 503 (loading, draining).
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "router/deployment_router.h"
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

struct ServerState {
  explicit ServerState(ServeOptions o);

  ServeOptions options;
  RequestLimits limits;
  ApiKeys keys;
  MetricsRegistry metrics;
  std::vector<std::unique_ptr<ServedModel>> models;
  std::unique_ptr<router::Router> router;  // --providers: routed model names (set before `ready`)
  std::atomic<bool> ready{false}, draining{false};
  std::atomic<int> in_flight{0};  // requests being answered, streams included

  // The model named `name` ("": the first one fit for `use`): 404 when none has the name,
  // 400 naming the field when it cannot be used so (an embedding model for chat).
  ServedModel& model_for(const std::string& name, ModelUse use);
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
// and inference time observed; returns what `fn` returns.
template <typename Fn>
auto run_one_at_a_time(ServerState& s, ServedModel& m, std::chrono::steady_clock::time_point arrived, Fn&& fn) {
  std::lock_guard lock(*m.vision_mu);
  const auto started = std::chrono::steady_clock::now();
  s.metrics.observe(metric::kQueueSeconds, {{"model", m.name}},
                    std::chrono::duration<double>(started - arrived).count());
  auto out = fn();
  s.metrics.observe(metric::kInferenceSeconds, {{"model", m.name}},
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return out;
}

}  // namespace ia::server
