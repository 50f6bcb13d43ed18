#pragma once
// The seam between the routes and whatever runs generations. The routes turn a
// request into token-id prompts and a GenerationRequest, submit them, and read
// the answer from a GenerationStream; they never see how requests are queued,
// batched or scheduled (BatchedGenerationService: continuous batching through
// the model's BatchEngine).
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/generation.h"
#include "server/generation_stream.h"
#include "server/metrics_registry.h"

namespace ia::server {

struct GenerationJob {
  // One sequence each (a request's prompts x n), reported by index. Each is sampled with its
  // own generator: seed + index when the request has a seed.
  std::vector<std::vector<int32_t>> prompts;
  // A vision-language chat's images (their positions in every prompt, which are then the same
  // prompt), embedded once by the engine before the first prefill; null without images.
  std::shared_ptr<const PromptImages> images;
  // Checked by the route (GenerationRequest resolved, max_new_tokens fits the context). Its
  // `cancelled` hook is set by the service from the stream.
  GenerationRequest request;
  std::shared_ptr<GenerationStream> stream;
};

// Admission refused: the model's queue is full (the route answers 429).
class QueueFull : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class GenerationService {
 public:
  virtual ~GenerationService() = default;
  // Admits the job or throws QueueFull; from then on its stream reports.
  virtual void submit(GenerationJob job) = 0;
  // Requests admitted and not started, and sequences running now (metrics).
  virtual size_t waiting() const = 0;
  virtual size_t running() const = 0;
  // Stops admitting and lets what was admitted finish (shutdown).
  virtual void drain() = 0;
  // Cancels every admitted job, queued or running (the shutdown grace period is over).
  virtual void abort() = 0;
  // Writes the scheduler's gauges and counters (KV blocks, prefix cache, preemptions) before
  // /metrics renders; nothing where there are none.
  virtual void export_metrics(MetricsRegistry& metrics, const MetricsRegistry::Labels& labels) {
    (void)metrics;
    (void)labels;
  }
};

}  // namespace ia::server
