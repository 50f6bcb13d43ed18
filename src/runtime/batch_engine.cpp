#include "runtime/batch_engine.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <random>

#include "core/error.h"
#include "core/logging.h"
#include "core/memory_account.h"
#include "ops/ops.h"
#include "runtime/sequence_output.h"

namespace ia {

namespace {

using Clock = std::chrono::steady_clock;
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

const CausalLM& model_of(const std::shared_ptr<const Generator>& gen) {
  IA_CHECK(gen != nullptr, "batch engine: no generator");
  return gen->model();
}

}  // namespace

namespace detail {

// What submitting threads, handles and the stepping thread share, under `mu`.
struct BatchEngineShared {
  std::mutex mu;
  std::condition_variable wake;
  std::condition_variable idle;                             // notified when no request is left
  std::deque<std::unique_ptr<ScheduledSequence>> incoming;  // BatchEngine::Request
  std::vector<uint64_t> cancels;
  bool stopping = false;
  bool has_work = false;  // the scheduler holds running or waiting sequences
  BatchEngineStats stats;
  uint64_t next_id = 1;
};

}  // namespace detail

// One request in the engine: the scheduler's view plus sampling and output.
struct BatchEngine::Request : ScheduledSequence {
  Request(const Generator& gen, BatchRequest request, const SamplingParams& params, PreparedPrompt prepared)
      : req(std::move(request)),
        sampler(params, req.options.seed ? *req.options.seed : std::random_device{}()),
        logprobs(params.logprobs >= 0),
        out(gen.tokenizer(), req.options.stop,
            req.options.ignore_eos && !req.options.grammar ? std::vector<int64_t>{} : gen.defaults().eos_token_ids,
            prepared.max_new, params.min_tokens),
        prompt(std::move(prepared.ids)),
        images(std::move(prepared.images)),
        warnings(std::move(prepared.warnings)) {
    tokens = prompt;
    if (images) prompt_keys = images->cache_keys(prompt);
  }
  uint64_t id = 0;
  BatchRequest req;
  Sampler sampler;
  bool logprobs;
  SequenceOutput out;
  std::vector<int32_t> prompt;
  std::shared_ptr<const PromptImages> images;
  std::string image_error;  // why its images could not be embedded
  std::vector<std::string> warnings;
  std::vector<SampledToken> sampled;  // when logprobs were asked for
  int64_t preemptions = 0;
  bool callback_failed = false;
  Clock::time_point submitted = Clock::now();
  std::optional<Clock::time_point> admitted, first_token;
};

void RequestHandle::cancel() const {
  auto shared = shared_.lock();
  if (!shared) return;
  {
    std::lock_guard lock(shared->mu);
    shared->cancels.push_back(id_);
  }
  shared->wake.notify_all();
}

BatchEngine::BatchEngine(std::shared_ptr<const Generator> generator, BatchEngineOptions options)
    : gen_(std::move(generator)),
      options_(std::move(options)),
      runner_(model_of(gen_)),
      shared_(std::make_shared<detail::BatchEngineShared>()) {
  if (options_.block_size <= 0 || options_.max_num_seqs <= 0 || options_.max_batch_tokens <= 0 ||
      options_.num_blocks < 0 || options_.max_model_len < 0)
    fail(ErrorKind::InvalidArgument,
         "batch engine: block_size, max_num_seqs and max_batch_tokens must be > 0, num_blocks and max_model_len >= 0");
  const int64_t ctx = gen_->model().config().max_positions;
  max_model_len_ = options_.max_model_len > 0 ? std::min(options_.max_model_len, ctx) : ctx;
  const int64_t blocks_per_seq = (max_model_len_ + options_.block_size - 1) / options_.block_size;
  if (options_.num_blocks == 0) options_.num_blocks = options_.max_num_seqs * blocks_per_seq;
  cache_ = gen_->make_cache(options_.num_blocks, options_.block_size);
  scheduler_ = std::make_unique<BatchScheduler>(
      *cache_, SchedulerLimits{options_.max_num_seqs, options_.max_batch_tokens, options_.prefix_caching});
  publish_stats(nullptr);
}

BatchEngine::~BatchEngine() {
  stop();
  std::lock_guard step_lock(step_mu_);
  take_submissions();
  finish_all("cancelled");
}

RequestHandle BatchEngine::submit(BatchRequest request) {
  const SamplingParams params = gen_->resolve(request.options);
  PreparedPrompt p = gen_->prepare(std::move(request.prompt), request.options, std::move(request.images));
  if (static_cast<int64_t>(p.ids.size()) >= max_model_len_) {
    if (p.images)
      fail(ErrorKind::InvalidArgument,
           "prompt of {} tokens (its images included) does not fit the maximum length of {} tokens", p.ids.size(),
           max_model_len_);
    // prepare() fitted the model's context; a smaller max_model_len is cut the same way.
    const auto plen = static_cast<int64_t>(p.ids.size());
    if (!request.options.truncate_prompt)
      fail(ErrorKind::InvalidArgument, "prompt of {} tokens does not fit the maximum length of {} tokens", plen,
           max_model_len_);
    const int64_t want = gen_->requested_new_tokens(request.options, plen);
    const int64_t keep = std::max<int64_t>(1, max_model_len_ - std::min(want, max_model_len_ / 2));
    p.ids.erase(p.ids.begin(), p.ids.end() - keep);
    p.warnings.push_back(fmt::format("prompt truncated from {} to its last {} tokens", plen, keep));
    p.max_new = want;
  }
  const auto plen = static_cast<int64_t>(p.ids.size());
  p.max_new = std::min(p.max_new, max_model_len_ - plen);
  // The last generated token is never fed, so a request holds at most plen + max_new - 1 tokens.
  const int64_t blocks = (plen + p.max_new - 1 + options_.block_size - 1) / options_.block_size;
  if (blocks > options_.num_blocks)
    fail(ErrorKind::InvalidArgument,
         "prompt of {} tokens and {} new tokens need {} KV blocks; the pool has {} (ask for fewer tokens)", plen,
         p.max_new, blocks, options_.num_blocks);
  auto r = std::make_unique<Request>(*gen_, std::move(request), params, std::move(p));
  uint64_t id = 0;
  {
    std::lock_guard lock(shared_->mu);
    id = shared_->next_id++;
    r->id = id;
    shared_->incoming.push_back(std::move(r));
  }
  shared_->wake.notify_all();
  return RequestHandle(shared_, id);
}

bool BatchEngine::take_submissions() {
  std::deque<std::unique_ptr<ScheduledSequence>> incoming;
  std::vector<uint64_t> cancels;
  {
    std::lock_guard lock(shared_->mu);
    incoming.swap(shared_->incoming);
    cancels.swap(shared_->cancels);
  }
  // Image features are computed here, on the stepping thread (the only one that runs the model),
  // once per PromptImages however many sequences share it, before any of them is scheduled.
  std::map<const PromptImages*, std::shared_ptr<const PromptImages>> embedded;
  std::vector<Request*> failed;
  for (auto& seq : incoming) {
    auto* r = static_cast<Request*>(seq.get());
    if (!r->images || r->images->features.defined()) continue;
    auto& done = embedded[r->images.get()];
    if (!done) {
      try {
        const auto* vl = dynamic_cast<const VisionLanguage*>(&gen_->model());
        IA_CHECK(vl != nullptr, "batch engine: images for a model that takes none");
        auto full = std::make_shared<PromptImages>(*r->images);
        full->features = vl->embed_images(full->pixels);
        full->pixels.clear();
        done = std::move(full);
      } catch (const std::exception& e) {
        r->image_error = e.what();
        continue;
      }
    }
    r->images = done;
  }
  for (auto& seq : incoming) {
    auto* r = static_cast<Request*>(seq.release());
    prompt_tokens_ += static_cast<int64_t>(r->prompt.size());
    requests_.emplace(r->id, std::unique_ptr<Request>(r));
    if (r->images && !r->images->features.defined()) {
      finish(*r, "error", r->image_error.empty() ? "the images could not be embedded" : r->image_error);
      continue;
    }
    scheduler_->add(r);
  }
  for (uint64_t id : cancels) {
    auto it = requests_.find(id);
    if (it != requests_.end()) finish(*it->second, "cancelled");
  }
  // Requests that carry Generator's hook are asked before each step, as Generator asks between
  // tokens; a request past its deadline ends as Generator ends it.
  bool hooked = false;
  const auto now = Clock::now();
  for (auto it = requests_.begin(); it != requests_.end();) {
    Request& r = *it->second;
    ++it;  // finish() erases r
    if (r.req.options.cancelled && r.req.options.cancelled()) {
      finish(r, "cancelled");
      hooked = true;
    } else if (r.req.options.deadline && now >= *r.req.options.deadline) {
      finish(r, "length");
      hooked = true;
    }
  }
  return !incoming.empty() || !cancels.empty() || hooked;
}

void BatchEngine::accept(Request& r, const SampledToken& token) {
  if (!r.first_token) r.first_token = Clock::now();
  if (r.logprobs) r.sampled.push_back(token);
  TokenEvent ev;
  ev.id = token.id;
  ev.text = r.out.accept(token.id);
  if (r.logprobs) ev.logprobs = token;
  r.tokens.push_back(token.id);
  ++generated_tokens_;
  if (r.req.on_token) notify(r, [&] { r.req.on_token(ev); });
}

void BatchEngine::notify(Request& r, const std::function<void()>& callback) {
  if (!callback) return;
  try {
    callback();
  } catch (const std::exception& e) {
    // A consumer that cannot take tokens (a closed connection) ends its request only.
    spdlog::warn("batch engine: request {}: a callback failed ({}); cancelling it", r.id, e.what());
    r.callback_failed = true;
  }
}

void BatchEngine::finish(Request& r, const std::string& reason, const std::string& error) {
  FinishEvent ev;
  if (!r.out.finished()) ev.text = r.out.finish(reason);
  scheduler_->remove(&r);
  const auto now = Clock::now();
  GenerationResult& g = ev.result;
  g.prompt_ids = std::move(r.prompt);
  g.ids = r.out.ids();
  g.text = r.out.text();
  g.finish_reason = r.out.finish_reason();
  g.logprobs = std::move(r.sampled);
  g.warnings = std::move(r.warnings);
  ev.usage =
      RequestUsage{static_cast<int64_t>(g.prompt_ids.size()), static_cast<int64_t>(g.ids.size()), r.first_hit_tokens};
  ev.timings.queue_ms = r.admitted ? ms_between(r.submitted, *r.admitted) : ms_between(r.submitted, now);
  ev.timings.first_token_ms = r.first_token ? ms_between(r.submitted, *r.first_token) : 0;
  ev.timings.total_ms = ms_between(r.submitted, now);
  ev.preemptions = r.preemptions;
  ev.error = error;
  auto on_finish = std::move(r.req.on_finish);
  const uint64_t id = r.id;
  requests_.erase(id);  // r is gone from here on
  ++finished_;
  // Whoever learns of the end from on_finish (a client, then its next look at the metrics) sees
  // the request's blocks back in the pool, not the figures of the step before.
  publish_stats(nullptr);
  if (!on_finish) return;
  try {
    on_finish(ev);
  } catch (const std::exception& e) {
    spdlog::warn("batch engine: request {}: finish callback failed ({})", id, e.what());
  }
}

void BatchEngine::finish_all(const std::string& reason, const std::string& error) {
  while (!requests_.empty()) finish(*requests_.begin()->second, reason, error);
}

bool BatchEngine::step() {
  std::lock_guard step_lock(step_mu_);
  const auto entered = Clock::now();
  const bool took = take_submissions();
  const Schedule schedule = scheduler_->schedule();
  for (ScheduledSequence* seq : schedule.preempted) ++static_cast<Request*>(seq)->preemptions;
  if (schedule.chunks.empty()) {
    publish_stats(nullptr);
    return took;
  }
  const auto t0 = Clock::now();
  std::vector<SeqChunk> chunks;
  StepReport report;
  for (const ScheduledChunk& c : schedule.chunks) {
    auto& r = *static_cast<Request*>(c.seq);
    if (!r.admitted) {
      r.admitted = t0;
      notify(r, r.req.on_admitted);
    }
    chunks.push_back(SeqChunk{
        r.cache_seq,
        std::span<const int32_t>(r.tokens).subspan(static_cast<size_t>(r.computed), static_cast<size_t>(c.count)), -1,
        r.images.get()});
    // A chunk of one token at the end of the sequence is a decode token; the rest is prefill.
    (c.samples && c.count == 1 && r.computed > 0 ? report.decode_tokens : report.prefill_tokens) += c.count;
  }
  // Tokens are drawn on the model's device where every sampling row allows it, as Generator's
  // loop draws them (CausalStepRunner::step_and_sample), so results stay identical.
  std::vector<CausalStepRunner::RowSampler> samplers;
  for (const ScheduledChunk& c : schedule.chunks) {
    auto& r = *static_cast<Request*>(c.seq);
    samplers.push_back(c.samples ? CausalStepRunner::RowSampler{&r.sampler, &r.prompt, &r.out.ids()}
                                 : CausalStepRunner::RowSampler{});  // a prompt chunk that is not the last
  }
  std::vector<SampledToken> tokens;
  const auto run_start = Clock::now();
  try {
    tokens = runner_.step_and_sample(chunks, *cache_, samplers);
  } catch (const std::exception& e) {
    // The runner rolled the cache back; the step's requests end, the others go on.
    scheduler_->step_failed(schedule);
    spdlog::warn("batch engine: a step of {} sequences failed: {}", chunks.size(), e.what());
    for (const ScheduledChunk& c : schedule.chunks) finish(*static_cast<Request*>(c.seq), "error", e.what());
    publish_stats(nullptr);
    return true;
  }
  const auto run_end = Clock::now();
  scheduler_->step_done(schedule);
  computed_tokens_ += schedule.tokens;
  for (size_t i = 0; i < schedule.chunks.size(); ++i) {
    const ScheduledChunk& c = schedule.chunks[i];
    auto& r = *static_cast<Request*>(c.seq);
    if (c.samples) accept(r, tokens[i]);  // else a prompt chunk that is not the last
    if (r.out.finished()) {
      finish(r, r.out.finish_reason());
    } else if (r.callback_failed) {
      finish(r, "cancelled");
    }
  }
  report.sequences = static_cast<int64_t>(schedule.chunks.size());
  report.preempted = static_cast<int64_t>(schedule.preempted.size());
  const auto done = Clock::now();
  report.ms = ms_between(t0, done);
  report.run_ms = ms_between(run_start, run_end);
  report.host_ms = ms_between(entered, run_start) + ms_between(run_end, done);
  ++steps_;
  publish_stats(&report);
  if (observer_) observer_(report);
  return true;
}

void BatchEngine::run_until_idle() {
  for (;;) {
    const bool worked = step();
    std::lock_guard lock(shared_->mu);
    const bool pending = shared_->has_work || !shared_->incoming.empty() || !shared_->cancels.empty();
    if (!pending) return;
    IA_CHECK(worked, "batch engine: requests wait but no step can run");
  }
}

void BatchEngine::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopping = false;
  }
  // The steps' allocations are charged to the memory account of the thread that started the
  // engine (the model's, when the resource pool loads it: runtime/model_pool.h).
  thread_ = std::thread([this, account = current_memory_account()] {
    ChargeMemoryTo charge(account);
    for (;;) {
      {
        std::unique_lock lock(shared_->mu);
        shared_->wake.wait(lock, [&] {
          return shared_->stopping || shared_->has_work || !shared_->incoming.empty() || !shared_->cancels.empty();
        });
        if (shared_->stopping) return;
      }
      try {
        step();
      } catch (const std::exception& e) {
        // A bug in the loop must not spin or leave clients waiting: every request ends.
        spdlog::error("batch engine: step failed: {}", e.what());
        std::lock_guard step_lock(step_mu_);
        finish_all("error", e.what());
        publish_stats(nullptr);
      }
    }
  });
}

void BatchEngine::stop() {
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopping = true;
  }
  shared_->wake.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BatchEngine::set_step_observer(std::function<void(const StepReport&)> observer) {
  std::lock_guard step_lock(step_mu_);
  observer_ = std::move(observer);
}

void BatchEngine::publish_stats(const StepReport* step) {
  std::lock_guard lock(shared_->mu);
  BatchEngineStats& s = shared_->stats;
  s.running = static_cast<int64_t>(scheduler_->running().size());
  s.waiting = static_cast<int64_t>(scheduler_->waiting().size());
  s.kv_blocks_total = cache_->num_blocks();
  s.kv_blocks_used = cache_->num_blocks() - cache_->free_blocks();
  s.kv_blocks_cached = cache_->cached_blocks();
  s.prefix_cache_queries = scheduler_->prefix_query_tokens();
  s.prefix_cache_hits = scheduler_->prefix_hit_tokens();
  s.prompt_tokens = prompt_tokens_;
  s.generated_tokens = generated_tokens_;
  s.computed_tokens = computed_tokens_;
  s.steps = steps_;
  s.preemptions = scheduler_->preemptions();
  s.requests_finished = finished_;
  if (step) {
    s.last_step_sequences = step->sequences;
    s.last_step_tokens = step->prefill_tokens + step->decode_tokens;
  }
  shared_->has_work = s.running + s.waiting > 0;
  if (!shared_->has_work && shared_->incoming.empty()) shared_->idle.notify_all();
}

bool BatchEngine::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(shared_->mu);
  return shared_->idle.wait_for(lock, timeout, [&] { return !shared_->has_work && shared_->incoming.empty(); });
}

BatchEngineStats BatchEngine::stats() const {
  std::lock_guard lock(shared_->mu);
  BatchEngineStats s = shared_->stats;
  s.waiting += static_cast<int64_t>(shared_->incoming.size());
  return s;
}

}  // namespace ia
