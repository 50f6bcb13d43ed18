#pragma once
// The router: public model names, each served by one or more deployments — a
// local model (the engine in this process) or a model of a remote provider —
// chosen per request by availability (breakers), priority, and the routing
// strategy (the order given, measured latency, or load), and tried in turn
// until one answers: local → remote, remote A → remote B, or remote → local.
// A failure the protocol marks as the caller's (400, 404, 422) ends the chain
// at once; so does any failure after output reached the caller. Every answer
// says which deployment gave it (docs/providers.md).
//
// The configuration file (`serve --providers FILE`, `generate --providers FILE`):
//   {"providers": {"NAME": {provider object, providers/provider_config.h}, …},
//    "models": {"PUBLIC": {"strategy": "ordered"|"latency"|"least_busy",
//                          "deployments": [{"local": "SERVED_NAME"},
//                                          {"provider": "NAME", "model": "ID", "priority": 0}]},
//               "PUBLIC2": [deployment, …]},          (an array: strategy "ordered")
//    "router": {"strategy": "…", "breaker": {"failures": 3, "cooldown_s": 30}},
//    "spend_file": "PATH"}   (where priced calls' cost is kept across restarts; default
//                             $IPFS_ACCELERATE_HOME/provider-spend.json; relative to the file)
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "providers/circuit_breaker.h"
#include "providers/provider_client.h"
#include "providers/provider_config.h"

namespace ia::router {

enum class Strategy { Ordered, Latency, LeastBusy };

struct Deployment {
  std::string name;                             // "local:NAME" or "PROVIDER/MODEL": what responses name
  std::string provider;                         // "" for a local deployment
  std::string model;                            // the provider's model id, or the local served model name
  int priority = 0;                             // lower first; equal priorities are ordered by the strategy
  size_t position = 0;                          // order in the file
  providers::ProviderClient* client = nullptr;  // remote deployments
  std::unique_ptr<providers::CircuitBreaker> breaker;
  std::atomic<int> in_flight{0};
  std::atomic<int64_t> requests{0}, failures{0};
  double latency_ewma_s = 0;  // guarded by the router's mutex
  bool local() const { return provider.empty(); }
};

struct Route {
  std::string public_name;
  Strategy strategy = Strategy::Ordered;
  std::vector<std::unique_ptr<Deployment>> deployments;
};

struct RouterOptions {
  Strategy strategy = Strategy::Ordered;
  int breaker_failures = 3;
  std::chrono::milliseconds breaker_cooldown{30'000};
  providers::ClientHooks hooks;  // clocks and sleeps (tests)
};

class Router {
 public:
  // From the file's JSON (InvalidArgument naming the field at fault). `config_dir`: where a
  // relative spend_file is (the providers file's folder; "": the working directory). When a
  // provider has prices, the spend file is read now: a corrupt or unreadable one throws.
  Router(const nlohmann::json& config, const providers::EnvLookup& env, providers::ClientHooks hooks = {},
         const std::string& config_dir = "");
  static std::unique_ptr<Router> from_file(const std::string& path, const providers::EnvLookup& env);
  // A router with one provider configured from its environment variables and no routes
  // (`generate --provider openai`).
  static std::unique_ptr<Router> for_provider(const std::string& type, const providers::EnvLookup& env);

  bool routes(const std::string& public_name) const { return routes_.count(public_name) > 0; }
  std::vector<std::string> public_names() const;
  const std::map<std::string, std::unique_ptr<providers::ProviderClient>>& providers() const { return clients_; }
  providers::ProviderClient& provider(const std::string& name);

  // The deployments of `public_name` to try, in order: the available ones (breakers closed or
  // half-open, provider usable) by priority then strategy. Unavailable (naming why) when none.
  std::vector<Deployment*> plan(const std::string& public_name);

  // Tries `attempt` on each planned deployment until one succeeds; returns the one that did.
  // Moves on after a failure unless it is the caller's fault or `output_started()` says the
  // caller already got output (then the failure is final). The last failure is rethrown
  // when every deployment failed.
  // `capability`: only the deployments that have it are tried (local ones always); none having
  // it is InvalidArgument naming them.
  Deployment& run(const std::string& public_name, const std::function<void(Deployment&)>& attempt,
                  const std::function<bool()>& output_started = nullptr,
                  std::optional<providers::Capability> capability = std::nullopt);

  // A chat or completion through the chain; `local` runs a local deployment (null: local
  // deployments are skipped).
  using LocalChat = std::function<providers::TextResult(const Deployment&, const providers::OnText&)>;
  providers::TextResult chat(const std::string& public_name, providers::ChatCall call, const providers::OnText& on_text,
                             providers::Priority priority, const LocalChat& local, std::string* answered_by);
  providers::TextResult complete(const std::string& public_name, providers::CompletionCall call,
                                 const providers::OnText& on_text, providers::Priority priority, const LocalChat& local,
                                 std::string* answered_by);
  providers::EmbedResult embed(const std::string& public_name, providers::EmbedCall call, providers::Priority priority,
                               std::string* answered_by);
  // Speech to text through the chain: remote deployments that transcribe, local ones through
  // `local` (null: skipped as not served here). With `on_text` streamed: no fallback once text
  // reached it.
  using LocalTranscribe = std::function<providers::TranscriptionResult(const Deployment&)>;
  providers::TranscriptionResult transcribe(const std::string& public_name, providers::TranscribeCall call,
                                            providers::Priority priority, const LocalTranscribe& local,
                                            std::string* answered_by, const providers::OnText& on_text = nullptr);

 private:
  // What chat and complete share: the chain with a guard that notes the first streamed text (no
  // fallback after it), local deployments through `local`, remote ones through `remote`.
  using RemoteText = std::function<providers::TextResult(Deployment&, const providers::OnText&)>;
  providers::TextResult run_text(const std::string& public_name, const providers::OnText& on_text,
                                 const LocalChat& local, const RemoteText& remote, std::string* answered_by);

 public:
  // Breakers, queues, keys and counters as Prometheus text (for /metrics) and as JSON
  // (`providers status`).
  std::string prometheus_text() const;
  nlohmann::json status_json() const;

 private:
  std::shared_ptr<providers::SpendStore> spend_;  // when some provider has prices
  std::map<std::string, std::unique_ptr<providers::ProviderClient>> clients_;
  std::map<std::string, Route> routes_;
  RouterOptions options_;
  mutable std::mutex mu_;
};

// Whether an error (being handled) is the caller's fault, so no other deployment should be
// tried: a ProviderError of class CallerFault, or an ia::Error InvalidArgument.
bool is_caller_fault(std::exception_ptr e);

}  // namespace ia::router
