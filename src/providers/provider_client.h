#pragma once
// A provider made resilient: a request queue with priorities and a concurrency
// limit (RequestGate), the API-key pool (per-key breakers), a provider-wide
// breaker, retries of what the protocol marks retryable with backoff that
// honours the server's hints, and counters per model and key. A stream whose
// text already reached the caller is never replayed: its failure is final.
//
//   failure class   key breaker         provider breaker   retried
//   caller (4xx)    —                   success            no
//   key (401/403…)  tripped (cooldown)  —                  yes, at once, with another key
//   rate_limited    tripped (the wait)  —                  yes: another key at once, else after the hint
//   overloaded      —                   failure            yes, backoff
//   transient       —                   failure            yes, backoff
//   stream          —                   failure            yes unless text was forwarded
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "providers/backoff.h"
#include "providers/circuit_breaker.h"
#include "providers/key_pool.h"
#include "providers/provider.h"
#include "providers/request_gate.h"
#include "providers/spend_store.h"

namespace ia::providers {

// Counters of one provider and model.
struct CallStats {
  int64_t requests = 0, successes = 0, retries = 0, tokens_in = 0, tokens_out = 0;
  std::map<std::string, int64_t> errors;  // by failure class name (and "unsupported", "queue")
  std::vector<int64_t> latency_buckets;   // counts per kLatencyBounds bucket, then +Inf
  double latency_sum_s = 0;
  double cost_usd = 0;  // from the config's prices and each call's usage
};
inline constexpr double kLatencyBounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

struct ClientHooks {
  ClockFn clock = SteadyClock::now;
  // The date, for a budget's calendar month (tests move it).
  WallClockFn wall_clock = [] { return std::chrono::system_clock::now(); };
  // Waits between retries (tests record them instead of sleeping).
  std::function<void(std::chrono::milliseconds)> sleep;
};

class ProviderClient {
 public:
  // `spend`: where the priced calls' cost is kept across restarts (shared by the clients of one
  // file); null: this process's calls only.
  explicit ProviderClient(std::unique_ptr<Provider> provider, ClientHooks hooks = {},
                          std::shared_ptr<SpendStore> spend = nullptr);

  const ProviderConfig& config() const { return provider_->config(); }
  const std::string& name() const { return provider_->config().name; }
  Provider& provider() { return *provider_; }

  TextResult chat(const ChatCall& call, const OnText& on_text, Priority p = Priority::Normal);
  TextResult complete(const CompletionCall& call, const OnText& on_text, Priority p = Priority::Normal);
  // Inputs are sent in batches of config().embed_batch (when set), results joined in order.
  EmbedResult embed(const EmbedCall& call, Priority p = Priority::Normal);
  std::vector<RerankScore> rerank(const RerankCall& call, Priority p = Priority::Normal);
  // `on_text` set: streamed (never retried once text reached it, as chat streams).
  TranscriptionResult transcribe(const TranscribeCall& call, Priority p = Priority::Normal,
                                 const OnText& on_text = nullptr);
  std::vector<std::string> list_models();
  void health();

  // For routing and status.
  BreakerState breaker_state() const { return breaker_.state(); }
  bool available() const;  // breaker not open and some key usable
  int running() const { return gate_.running(); }
  size_t waiting() const { return gate_.waiting(); }
  double latency_ewma_s() const;  // 0 until a call finished
  const KeyPool& keys() const { return keys_; }
  std::map<std::string, CallStats> stats() const;  // by model
  double spent_usd() const;                        // over every model, from the config's prices
  // What the budget counts: the spend in the budget's current period ("total" or "YYYY-MM"), from
  // the spend file when there is one (every process's calls), else this process's.
  double budget_spent_usd();
  std::string budget_period_key() const;
  const SpendStore* spend_store() const { return spend_.get(); }

 private:
  // Runs `attempt` (given the key) under the queue, breakers and retry policy.
  void run(const std::string& model, Priority p, bool streaming,
           const std::function<Usage(const std::string& key, const OnText& forward_guard)>& attempt,
           const OnText& on_text);
  void record(const std::string& model, const std::function<void(CallStats&)>& f);

  std::unique_ptr<Provider> provider_;
  ClientHooks hooks_;
  RequestGate gate_;
  CircuitBreaker breaker_;
  KeyPool keys_;
  BackoffPolicy backoff_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  std::map<std::string, CallStats> stats_;
  std::map<std::string, double> period_spend_;  // this process's, by "total" and "YYYY-MM"
  std::shared_ptr<SpendStore> spend_;
  double latency_ewma_s_ = 0;
};

}  // namespace ia::providers
