#pragma once
// The GenerationService of a decoder model: continuous batching through one
// BatchEngine per model (runtime/batch_engine.h). Every sequence of every job
// (a request's prompts x n) is one engine request, so concurrent clients share
// the model's steps and one KV block pool with prefix caching; a job's stream
// gets each sequence's text as it is made and the results once all are done.
// Admission is bounded by the sequences waiting for a slot (--max-queue, 429).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "backends/memory_budget.h"
#include "runtime/batch_engine.h"
#include "server/generation_service.h"
#include "server/metrics_registry.h"

namespace ia::server {

struct BatchedGenerationOptions {
  BatchEngineOptions engine;  // num_blocks 0: sized by kv_pool_blocks
  size_t max_queue = 64;      // sequences waiting for a slot; a job past them gets QueueFull
  // Test instrumentation (ServeOptions::test_token_delay): the engine sleeps this long after
  // every step, so tests can overlap, disconnect or overflow requests on tiny models.
  std::chrono::milliseconds step_delay{0};
};

// What a step needs on a GPU beside the KV pool (f32 activations of max_batch_tokens rows through
// the widest layers, each sequence's logits row and the sampler's copies of it) and headroom for
// the runtime's own allocations: an estimate, generous on purpose.
int64_t step_reserve_bytes(const DecoderConfig& config, const BatchEngineOptions& o);

// KV blocks for a model's shared pool. On the CPU (no `memory`): max_num_seqs sequences of
// max_model_len. On a GPU: the same, cut to what fits in `fraction` of the device's free
// memory once the weights are loaded, less a reserve for a step's activations (an estimate
// from max_batch_tokens, max_num_seqs and the model's sizes). A block's bytes are those of the
// KV cache dtype (KvCacheLayout::bytes_per_token): an int8 cache fits about 4x the tokens of an
// f32 one. `limit_bytes` (the resource pool's memory limit, less the weights and what other
// models hold) cuts it further, less the same reserve on a GPU. Unavailable, with the sizes,
// when not even one sequence of max_model_len fits. `o.max_model_len` must be resolved (> 0).
int64_t kv_pool_blocks(const CausalLM& model, const BatchEngineOptions& o,
                       const std::optional<DeviceMemoryInfo>& memory, double fraction,
                       DType kv_cache_dtype = DType::F32, std::optional<int64_t> limit_bytes = std::nullopt);

// `metrics` (may be null) receives the per-step histograms; the gauges and counters are
// written by export_metrics. `model` labels them.
std::unique_ptr<GenerationService> make_batched_generation_service(std::shared_ptr<const Generator> generator,
                                                                   BatchedGenerationOptions options,
                                                                   MetricsRegistry* metrics, const std::string& model);

}  // namespace ia::server
