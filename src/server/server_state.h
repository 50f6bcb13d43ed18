#pragma once
// What every route of one server shares: the options, the models (loaded
// before `ready` is set and read-only after), the key check, the metrics, and
// the lifecycle flags behind 503 (loading, draining).
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "server/api_keys.h"
#include "server/metrics_registry.h"
#include "server/openai_requests.h"
#include "server/served_model.h"
#include "server/server_options.h"

namespace ia::server {

// The metric families the routes update (declared by ServerState's constructor).
namespace metric {
inline constexpr const char* kRequests = "ia_http_requests_total";
inline constexpr const char* kQueueSeconds = "ia_request_queue_seconds";
inline constexpr const char* kTokenizeSeconds = "ia_request_tokenize_seconds";
inline constexpr const char* kInferenceSeconds = "ia_request_inference_seconds";
inline constexpr const char* kTimeToFirstToken = "ia_time_to_first_token_seconds";
inline constexpr const char* kTimePerOutputToken = "ia_time_per_output_token_seconds";
inline constexpr const char* kPromptTokens = "ia_prompt_tokens_total";
inline constexpr const char* kGenerationTokens = "ia_generation_tokens_total";
inline constexpr const char* kCancelled = "ia_requests_cancelled_total";
inline constexpr const char* kRunning = "ia_num_requests_running";
inline constexpr const char* kWaiting = "ia_num_requests_waiting";
}  // namespace metric

enum class ModelUse { Generation, Embedding, Tokenization };

struct ServerState {
  explicit ServerState(ServeOptions o);

  ServeOptions options;
  RequestLimits limits;
  ApiKeys keys;
  MetricsRegistry metrics;
  std::vector<std::unique_ptr<ServedModel>> models;
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

}  // namespace ia::server
