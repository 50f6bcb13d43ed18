#pragma once
// Continuous batching for one decoder model (vLLM's engine loop): requests from
// any thread share one paged KV cache; each step admits what fits (BatchScheduler:
// free blocks, max_num_seqs, max_batch_tokens, chunked prefill, preemption by
// recompute, prefix caching), runs ONE model step over the decode tokens of every
// running sequence and the prefill chunks of new ones (CausalStepRunner), samples
// each sequence's next token with its own Sampler (on the model's device when every
// sampling sequence of the step allows it, as Generator does), streams its text (DecodeStream
// + StopMatcher, as Generator does) and retires finished sequences, freeing their
// blocks. It only calls the model interface and the KV cache, so it is the same
// code on every device. With greedy sampling a request's ids are those of the same
// request run alone through Generator::generate_ids.
//
// Drive it with step() from a loop of your own, or start() a thread that steps
// while there is work. Callbacks run on the stepping thread, between steps' model
// work: a slow callback delays every request, so hand data off (a queue) there;
// they must not call step(). Only the stepping thread runs the model: a forward on
// another thread at the same time can corrupt a step on the CPU backend today (its
// cached oneDNN primitives are executed across threads; see docs/generation.md).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "models/kv_cache.h"
#include "runtime/batch_scheduler.h"
#include "runtime/generation.h"
#include "runtime/step_runner.h"

namespace ia {

struct BatchEngineOptions {
  int64_t num_blocks = 0;  // KV blocks in the shared pool; 0: max_num_seqs sequences of max_model_len
  int64_t block_size = 16;
  int64_t max_num_seqs = 64;        // sequences in one step
  int64_t max_batch_tokens = 2048;  // new tokens in one step: decode tokens plus prefill chunks
  int64_t max_model_len = 0;        // prompt + generated tokens of a request; 0 (or more): the model's context
  bool prefix_caching = true;
};

// One generated token, as it is accepted.
struct TokenEvent {
  int32_t id = 0;
  // Text that became final with this token (often empty while bytes are pending);
  // with the token that ends the request, the rest of its text.
  std::string text;
  std::optional<SampledToken> logprobs;  // when the request asked for logprobs
};

struct RequestUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens found in the prefix cache when it was first admitted
};

struct RequestTimings {
  double queue_ms = 0;        // submit to first admitted into a step
  double first_token_ms = 0;  // submit to the first generated token (0 when none)
  double total_ms = 0;        // submit to finish
};

struct FinishEvent {
  // prompt_ids, ids (eos included), text, logprobs, warnings; finish_reason "stop",
  // "length", "cancelled", or "error" when a step failed (see error).
  GenerationResult result;
  // Text no TokenEvent carried (the held rest of a cancelled request): the token
  // events' texts and this concatenate to result.text.
  std::string text;
  RequestUsage usage;
  RequestTimings timings;
  int64_t preemptions = 0;
  std::string error;  // the failed step's message, for finish_reason "error"
};

struct BatchRequest {
  std::vector<int32_t> prompt;
  // A vision-language prompt's image features, computed once before it is submitted
  // (runtime/vision_prompt.h); its prefix-cache keys then include the images' content.
  std::shared_ptr<const PromptImages> images;
  // Sampling (seed included), max_new_tokens, stop strings, ignore_eos and
  // truncate_prompt as Generator takes them. `cancelled`, when set, is asked before every
  // step on the stepping thread (true ends the request as RequestHandle::cancel does).
  GenerationRequest options;
  // Once, when the request first joins a step (its time in the queue ends there).
  std::function<void()> on_admitted;
  std::function<void(const TokenEvent&)> on_token;
  std::function<void(const FinishEvent&)> on_finish;  // exactly once per accepted request
};

struct BatchEngineStats {
  int64_t running = 0, waiting = 0;  // sequences
  int64_t kv_blocks_total = 0, kv_blocks_used = 0;
  int64_t kv_blocks_cached = 0;                             // in the prefix cache (held or evictable)
  int64_t prefix_cache_queries = 0, prefix_cache_hits = 0;  // prompt tokens looked up at admission, found
  int64_t prompt_tokens = 0, generated_tokens = 0;          // of finished and running requests
  int64_t computed_tokens = 0;                              // tokens run through the model (prefill + decode)
  int64_t steps = 0, preemptions = 0, requests_finished = 0;
  int64_t last_step_sequences = 0, last_step_tokens = 0;  // the last step's batch
  double prefix_cache_hit_rate() const {
    return prefix_cache_queries ? static_cast<double>(prefix_cache_hits) / static_cast<double>(prefix_cache_queries)
                                : 0.0;
  }
};

// What one step ran (for batch-size and step-time metrics).
struct StepReport {
  int64_t sequences = 0, prefill_tokens = 0, decode_tokens = 0, preempted = 0;
  double ms = 0;
  // Where the step's time went: the model's step with its sampling (run_ms), and the engine's
  // own work on the host around it (host_ms: taking submissions, scheduling, delivering tokens
  // and finishing requests), during which the device waits.
  double run_ms = 0, host_ms = 0;
};

namespace detail {
struct BatchEngineShared;
}

// Cancels one request; outlives the engine harmlessly.
class RequestHandle {
 public:
  RequestHandle() = default;
  uint64_t id() const { return id_; }
  // The request ends before the next step ("cancelled", with its text so far) and its
  // blocks are freed then; nothing happens when it has already finished.
  void cancel() const;

 private:
  friend class BatchEngine;
  RequestHandle(std::weak_ptr<detail::BatchEngineShared> shared, uint64_t id) : shared_(std::move(shared)), id_(id) {}
  std::weak_ptr<detail::BatchEngineShared> shared_;
  uint64_t id_ = 0;
};

class BatchEngine {
 public:
  BatchEngine(std::shared_ptr<const Generator> generator, BatchEngineOptions options = {});
  // Stops the thread; requests still in the engine finish "cancelled".
  ~BatchEngine();
  BatchEngine(const BatchEngine&) = delete;
  BatchEngine& operator=(const BatchEngine&) = delete;

  // Checks a request and queues it (any thread). InvalidArgument, with nothing queued,
  // for bad sampling options, an empty prompt or an id outside the vocabulary, a prompt
  // that does not fit max_model_len (unless truncate_prompt: then its last tokens are
  // kept, as Generator::prepare keeps them), or one whose prompt and tokens to generate
  // can never fit the pool.
  RequestHandle submit(BatchRequest request);

  // One step: ends cancelled requests, admits, runs the model once, samples, streams
  // and retires. False when there was nothing to do. One stepping thread at a time.
  bool step();
  // Steps until every request has finished.
  void run_until_idle();
  // A thread that steps while there is work and sleeps otherwise, until stop().
  void start();
  void stop();
  // Waits until every submitted request has finished, or the timeout passes; true when
  // idle. A drain: stop submitting, wait_idle while the thread steps, then stop().
  bool wait_idle(std::chrono::milliseconds timeout);

  BatchEngineStats stats() const;  // any thread
  // Called after every step that ran the model, on the stepping thread.
  void set_step_observer(std::function<void(const StepReport&)> observer);

  const BatchEngineOptions& options() const { return options_; }
  const Generator& generator() const { return *gen_; }
  // The shared pool; read it from the stepping thread or while no thread steps.
  const KvCache& cache() const { return *cache_; }

 private:
  struct Request;

  // Moves new requests into the scheduler and ends cancelled ones; true when there were any.
  bool take_submissions();
  // Ends a request (its reason is the output's when it ended on a token), frees its blocks, reports it.
  void finish(Request& r, const std::string& reason, const std::string& error = {});
  void finish_all(const std::string& reason, const std::string& error = {});
  void accept(Request& r, const SampledToken& token);
  // Runs one of the request's callbacks; one that throws cancels the request (after the step).
  void notify(Request& r, const std::function<void()>& callback);
  void publish_stats(const StepReport* step);

  std::shared_ptr<const Generator> gen_;
  BatchEngineOptions options_;
  int64_t max_model_len_ = 0;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<BatchScheduler> scheduler_;
  CausalStepRunner runner_;
  std::shared_ptr<detail::BatchEngineShared> shared_;
  std::map<uint64_t, std::unique_ptr<Request>> requests_;  // admitted into the scheduler (stepping thread only)
  std::function<void(const StepReport&)> observer_;
  int64_t prompt_tokens_ = 0, generated_tokens_ = 0, computed_tokens_ = 0, finished_ = 0, steps_ = 0;
  std::mutex step_mu_;
  std::thread thread_;
};

}  // namespace ia
