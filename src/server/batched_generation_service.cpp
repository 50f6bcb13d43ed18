#include "server/batched_generation_service.h"

#include <algorithm>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/logging.h"
#include "server/metric_names.h"

namespace ia::server {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

constexpr double kMiB = 1024.0 * 1024.0;

// One job (a request's sequences) in the engine. Its callbacks run on the engine's thread while
// the submitting HTTP thread may still be submitting the job's later sequences: hence the lock.
struct Job {
  std::mutex mu;
  std::shared_ptr<GenerationStream> stream;
  std::vector<GenerationResult> results;
  std::vector<char> admitted;  // per sequence: joined a step (it no longer counts as waiting)
  size_t unfinished = 0;
  bool abandoned = false;  // a later sequence was refused: the route answers the error, not the stream
  std::string error;       // a failed step's message
  std::optional<Clock::time_point> started, first_token;
  GenerationStats stats;
};

class BatchedGenerationService final : public GenerationService {
 public:
  BatchedGenerationService(std::shared_ptr<const Generator> generator, BatchedGenerationOptions options,
                           MetricsRegistry* metrics, std::string model)
      : generator_(std::move(generator)),
        max_queue_(options.max_queue),
        engine_(std::make_unique<BatchEngine>(generator_, options.engine)) {
    const std::chrono::milliseconds delay = options.step_delay;
    if (metrics || delay.count() > 0)
      engine_->set_step_observer([metrics, delay, labels = MetricsRegistry::Labels{{"model", std::move(model)}}](
                                     const StepReport& step) {
        if (metrics) {
          metrics->observe(metric::kBatchSize, labels, static_cast<double>(step.sequences));
          metrics->observe(metric::kBatchTokens, labels, static_cast<double>(step.prefill_tokens + step.decode_tokens));
          metrics->observe(metric::kStepSeconds, labels, step.run_ms / 1e3);
          metrics->observe(metric::kStepHostSeconds, labels, step.host_ms / 1e3);
        }
        if (delay.count() > 0) std::this_thread::sleep_for(delay);
      });
    engine_->start();
  }
  ~BatchedGenerationService() override {
    // Requests still in the engine end "cancelled", their streams finish; the members their
    // callbacks use (queued_, mu_) are still alive here.
    engine_.reset();
  }

  void submit(GenerationJob job) override {
    const size_t n = job.prompts.size();
    IA_CHECK(n > 0 && job.stream, "generation: a job without sequences or stream");
    {
      // Sequences waiting for a slot bound admission; a job is always taken when none waits,
      // so a queue of 0 still serves (one job at a time once the batch is full).
      std::lock_guard lock(mu_);
      if (closed_) throw QueueFull("the server is draining");
      if (queued_ > 0 && queued_ + n > max_queue_)
        throw QueueFull(fmt::format("{} sequences wait for a slot (--max-queue {})", queued_, max_queue_));
      queued_ += n;
      std::erase_if(jobs_, [](const auto& j) { return j.expired(); });
    }
    auto state = std::make_shared<Job>();
    state->stream = job.stream;
    state->results.resize(n);
    state->admitted.assign(n, 0);
    state->unfinished = n;
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(state);
    }
    std::vector<RequestHandle> handles;
    size_t submitted = 0;
    try {
      for (; submitted < n; ++submitted) {
        BatchRequest r;
        r.prompt = std::move(job.prompts[submitted]);
        r.images = job.images;
        r.options = job.request;
        if (job.request.seed) r.options.seed = *job.request.seed + submitted;  // each sequence its own draws
        r.options.cancelled = [stream = job.stream] { return stream->cancelled(); };
        r.on_admitted = [this, state, i = submitted] { admitted(*state, i); };
        r.on_token = [state, i = submitted](const TokenEvent& ev) {
          {
            std::lock_guard lock(state->mu);
            if (!state->first_token) state->first_token = Clock::now();
          }
          if (!ev.text.empty()) state->stream->text(i, ev.text);
        };
        r.on_finish = [this, state, i = submitted](const FinishEvent& ev) { finished(*state, i, ev); };
        handles.push_back(engine_->submit(std::move(r)));
      }
    } catch (...) {
      // The engine refused a sequence (it can never fit the pool): the whole job is refused,
      // the sequences already in are cancelled and nothing more is said on the stream.
      {
        std::lock_guard lock(state->mu);
        state->abandoned = true;
      }
      for (const RequestHandle& h : handles) h.cancel();
      {
        std::lock_guard lock(mu_);
        queued_ -= n - submitted;
      }
      throw;
    }
  }

  size_t waiting() const override { return static_cast<size_t>(engine_->stats().waiting); }
  size_t running() const override { return static_cast<size_t>(engine_->stats().running); }
  void drain() override {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  void abort() override {
    std::lock_guard lock(mu_);
    for (const auto& j : jobs_)
      if (auto state = j.lock()) state->stream->cancel();  // the engine ends them before its next step
  }

  void export_metrics(MetricsRegistry& metrics, const MetricsRegistry::Labels& labels) override {
    const BatchEngineStats s = engine_->stats();
    metrics.set(metric::kKvBlocksUsed, labels, static_cast<double>(s.kv_blocks_used));
    metrics.set(metric::kKvBlocksTotal, labels, static_cast<double>(s.kv_blocks_total));
    metrics.set(metric::kKvBlocksCached, labels, static_cast<double>(s.kv_blocks_cached));
    // Counters advance by what the engine counted since the last scrape (two scrapes at once
    // must not count a difference twice).
    std::lock_guard lock(export_mu_);
    metrics.add(metric::kPrefixQueries, labels, static_cast<double>(s.prefix_cache_queries - exported_.queries));
    metrics.add(metric::kPrefixHits, labels, static_cast<double>(s.prefix_cache_hits - exported_.hits));
    metrics.add(metric::kPreemptions, labels, static_cast<double>(s.preemptions - exported_.preemptions));
    exported_ = {s.prefix_cache_queries, s.prefix_cache_hits, s.preemptions};
  }

 private:
  // A sequence joined its first step: it no longer waits; the job's queue time ends with its first.
  void admitted(Job& job, size_t i) {
    bool first = false;
    {
      std::lock_guard lock(job.mu);
      if (job.admitted[i]) return;
      job.admitted[i] = 1;
      if (!job.started) {
        job.started = Clock::now();
        first = true;
      }
    }
    {
      std::lock_guard lock(mu_);
      --queued_;
    }
    if (first) job.stream->start();
  }

  void finished(Job& job, size_t i, const FinishEvent& ev) {
    if (!ev.text.empty()) job.stream->text(i, ev.text);  // the held rest of a cancelled sequence
    bool never_admitted = false, last = false;
    {
      std::lock_guard lock(job.mu);
      never_admitted = !job.admitted[i];
      job.admitted[i] = 1;
      job.results[i] = ev.result;
      if (ev.result.finish_reason == "error" && job.error.empty()) job.error = ev.error.empty() ? "failed" : ev.error;
      GenerationStats& st = job.stats;
      st.prompt_tokens += ev.usage.prompt_tokens;
      st.cached_tokens += ev.usage.cached_tokens;
      if (ev.timings.first_token_ms > 0 && ev.usage.completion_tokens > 1) {
        st.decode_ms += ev.timings.total_ms - ev.timings.first_token_ms;  // this sequence's tokens after its first
        st.decode_tokens += ev.usage.completion_tokens - 1;
      }
      last = --job.unfinished == 0 && !job.abandoned;
      if (last && job.started && job.first_token) st.prefill_ms = ms_between(*job.started, *job.first_token);
    }
    if (never_admitted) {  // cancelled while it waited
      std::lock_guard lock(mu_);
      --queued_;
    }
    if (!last) return;
    if (!job.error.empty()) {
      try {
        fail(ErrorKind::Internal, "generation step failed: {}", job.error);
      } catch (...) {
        job.stream->fail(std::current_exception());
      }
      return;
    }
    job.stream->finish(std::move(job.results), job.stats);
  }

  struct Exported {
    int64_t queries = 0, hits = 0, preemptions = 0;
  };

  std::shared_ptr<const Generator> generator_;
  size_t max_queue_;
  std::mutex mu_;
  size_t queued_ = 0;  // sequences submitted and not yet admitted into a step
  bool closed_ = false;
  std::vector<std::weak_ptr<Job>> jobs_;  // for abort()
  std::mutex export_mu_;
  Exported exported_;
  std::unique_ptr<BatchEngine> engine_;  // last: destroyed first, while what its callbacks use lives
};

}  // namespace

int64_t step_reserve_bytes(const DecoderConfig& c, const BatchEngineOptions& o) {
  return static_cast<int64_t>(256 * kMiB) + o.max_batch_tokens * (4 * c.hidden_size + 3 * c.intermediate_size) * 4 +
         o.max_num_seqs * c.vocab_size * 4 * 3;
}

int64_t kv_pool_blocks(const CausalLM& model, const BatchEngineOptions& o,
                       const std::optional<DeviceMemoryInfo>& memory, double fraction, DType kv_cache_dtype,
                       std::optional<int64_t> limit_bytes) {
  IA_CHECK(o.max_model_len > 0 && o.block_size > 0 && o.max_num_seqs > 0, "kv pool: unresolved limits");
  const int64_t per_seq = (o.max_model_len + o.block_size - 1) / o.block_size;
  const int64_t wanted = o.max_num_seqs * per_seq;
  if (!memory && !limit_bytes) return wanted;
  const KvCacheLayout l = model.kv_layout();
  const int64_t block_bytes = o.block_size * l.bytes_per_token(kv_cache_dtype);
  // On a GPU only: the CPU's steps take host memory as they go (the resource pool measures it
  // as workspace).
  const int64_t reserve = memory ? step_reserve_bytes(model.config(), o) : 0;
  int64_t budget = std::numeric_limits<int64_t>::max();
  if (memory) budget = static_cast<int64_t>(fraction * static_cast<double>(memory->free_bytes)) - reserve;
  const bool limited = limit_bytes && *limit_bytes - reserve < budget;
  if (limited) budget = *limit_bytes - reserve;
  const int64_t fits = std::max<int64_t>(0, budget / block_bytes);
  if (fits < per_seq && limited)
    fail(ErrorKind::Unavailable,
         "a KV cache for one sequence of {} tokens needs {:.1f} MiB, but the memory limit (--max-memory) leaves "
         "{:.1f} MiB beside the weights{} (use --max-model-len, or a larger --max-memory)",
         o.max_model_len, static_cast<double>(per_seq * block_bytes) / kMiB,
         static_cast<double>(std::max<int64_t>(*limit_bytes, 0)) / kMiB,
         memory ? fmt::format(", less {:.1f} MiB for activations", static_cast<double>(reserve) / kMiB) : "");
  if (fits < per_seq)
    fail(ErrorKind::Unavailable,
         "a KV cache for one sequence of {} tokens needs {:.1f} MiB, but {} of the {:.1f} MiB free on the device, "
         "less {:.1f} MiB for activations, leaves {:.1f} MiB (use --max-model-len, a larger --gpu-memory-fraction, "
         "or fewer --max-batch-tokens)",
         o.max_model_len, static_cast<double>(per_seq * block_bytes) / kMiB, fraction,
         static_cast<double>(memory->free_bytes) / kMiB, static_cast<double>(reserve) / kMiB,
         static_cast<double>(std::max<int64_t>(budget, 0)) / kMiB);
  return std::min(wanted, fits);
}

std::unique_ptr<GenerationService> make_batched_generation_service(std::shared_ptr<const Generator> generator,
                                                                   BatchedGenerationOptions options,
                                                                   MetricsRegistry* metrics, const std::string& model) {
  return std::make_unique<BatchedGenerationService>(std::move(generator), std::move(options), metrics, model);
}

}  // namespace ia::server
