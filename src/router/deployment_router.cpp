#include "router/deployment_router.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/bounded_json.h"
#include "ipfs/fs_blockstore.h"

namespace ia::router {

namespace {

using providers::ProviderError;
using Clock = std::chrono::steady_clock;

Strategy parse_strategy(const nlohmann::json& j, const std::string& where) {
  if (!j.is_string())
    fail(ErrorKind::InvalidArgument, "{}: expected \"ordered\", \"latency\" or \"least_busy\"", where);
  const std::string s = j;
  if (s == "ordered") return Strategy::Ordered;
  if (s == "latency") return Strategy::Latency;
  if (s == "least_busy") return Strategy::LeastBusy;
  fail(ErrorKind::InvalidArgument, "{}: unknown strategy `{}` (ordered, latency, least_busy)", where, s);
}

const char* strategy_name(Strategy s) {
  switch (s) {
    case Strategy::Ordered: return "ordered";
    case Strategy::Latency: return "latency";
    case Strategy::LeastBusy: return "least_busy";
  }
  return "ordered";
}

// Whether the failure being handled lets the chain move on to the next deployment.
bool may_fall_back(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const ProviderError& p) {
    return p.failure() != providers::FailureClass::CallerFault;
  } catch (const Error& x) {
    return x.kind() == ErrorKind::Unavailable;
  } catch (...) {
    return false;
  }
}

std::string message_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown error";
  }
}

std::string prom_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// A provider's spend against its budget: {"spent_usd", "budget_usd" (null: none), "period"
// ("total" | "month"), "period_key" ("total" | "YYYY-MM"), "spend_file" (null: this process's
// calls only)}; "error" instead of spent_usd when the spend file cannot be read.
nlohmann::json spend_json(providers::ProviderClient& c) {
  nlohmann::json j{{"budget_usd", c.config().budget_usd > 0 ? nlohmann::json(c.config().budget_usd) : nullptr},
                   {"period", providers::budget_period_name(c.config().budget_period)},
                   {"period_key", c.budget_period_key()},
                   {"spend_file", c.spend_store() ? nlohmann::json(c.spend_store()->path()) : nullptr}};
  try {
    j["spent_usd"] = c.budget_spent_usd();
  } catch (const std::exception& e) {
    j["error"] = e.what();
  }
  return j;
}

}  // namespace

bool is_caller_fault(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const ProviderError& p) {
    return p.failure() == providers::FailureClass::CallerFault;
  } catch (const Error& x) {
    return x.kind() == ErrorKind::InvalidArgument || x.kind() == ErrorKind::NotFound;
  } catch (...) {
    return false;
  }
}

Router::Router(const nlohmann::json& config, const providers::EnvLookup& env, providers::ClientHooks hooks,
               const std::string& config_dir) {
  options_.hooks = std::move(hooks);
  if (!config.is_object()) fail(ErrorKind::InvalidArgument, "providers file: expected a JSON object");
  for (const auto& [key, _] : config.items())
    if (key != "providers" && key != "models" && key != "router" && key != "spend_file" &&
        key != "s3")  // s3: router/s3_model_source.h
      fail(ErrorKind::InvalidArgument, "providers file: unknown field `{}` (providers, models, router, spend_file, s3)",
           key);
  std::string spend_file;
  if (auto f = config.find("spend_file"); f != config.end()) {
    if (!f->is_string() || f->get<std::string>().empty())
      fail(ErrorKind::InvalidArgument, "spend_file: expected a file path");
    std::filesystem::path p(f->get<std::string>());
    if (p.is_relative() && !config_dir.empty()) p = std::filesystem::path(config_dir) / p;
    spend_file = p.string();
  }
  // The spend file is opened when there is spend to keep (some provider has prices) or it is named.
  auto spend_store = [&]() -> std::shared_ptr<providers::SpendStore> {
    if (!spend_) {
      if (spend_file.empty()) spend_file = (ipfs::default_home() / "provider-spend.json").string();
      spend_ = std::make_shared<providers::SpendStore>(spend_file);
    }
    return spend_;
  };
  if (!spend_file.empty()) spend_store();
  if (auto r = config.find("router"); r != config.end()) {
    if (!r->is_object()) fail(ErrorKind::InvalidArgument, "router: expected an object");
    if (auto s = r->find("strategy"); s != r->end()) options_.strategy = parse_strategy(*s, "router.strategy");
    if (auto b = r->find("breaker"); b != r->end() && b->is_object()) {
      options_.breaker_failures = b->value("failures", options_.breaker_failures);
      if (options_.breaker_failures < 1) fail(ErrorKind::InvalidArgument, "router.breaker.failures: at least 1");
      if (auto c = b->find("cooldown_s"); c != b->end()) {
        if (!c->is_number() || c->get<double>() < 0)
          fail(ErrorKind::InvalidArgument, "router.breaker.cooldown_s: expected seconds");
        options_.breaker_cooldown = std::chrono::milliseconds(static_cast<int64_t>(c->get<double>() * 1000));
      }
    }
  }
  if (auto p = config.find("providers"); p != config.end()) {
    if (!p->is_object()) fail(ErrorKind::InvalidArgument, "providers: expected an object of provider objects");
    for (const auto& [name, obj] : p->items()) {
      providers::ProviderConfig c = providers::provider_config_from_json(name, obj, env);
      clients_[name] = std::make_unique<providers::ProviderClient>(providers::make_provider(c), options_.hooks,
                                                                   c.prices.empty() ? nullptr : spend_store());
    }
  }
  if (auto m = config.find("models"); m != config.end()) {
    if (!m->is_object()) fail(ErrorKind::InvalidArgument, "models: expected an object of public model names");
    for (const auto& [public_name, spec] : m->items()) {
      const std::string where = "models." + public_name;
      Route route;
      route.public_name = public_name;
      route.strategy = options_.strategy;
      const nlohmann::json* list = &spec;
      if (spec.is_object()) {
        if (auto s = spec.find("strategy"); s != spec.end()) route.strategy = parse_strategy(*s, where + ".strategy");
        auto d = spec.find("deployments");
        if (d == spec.end()) fail(ErrorKind::InvalidArgument, "{}: expected a `deployments` array", where);
        list = &*d;
      }
      if (!list->is_array() || list->empty())
        fail(ErrorKind::InvalidArgument, "{}: expected a non-empty array of deployments", where);
      for (size_t i = 0; i < list->size(); ++i) {
        const auto& d = (*list)[i];
        const std::string dw = fmt::format("{}.deployments[{}]", where, i);
        auto dep = std::make_unique<Deployment>();
        dep->position = i;
        if (!d.is_object()) fail(ErrorKind::InvalidArgument, "{}: expected an object", dw);
        if (auto l = d.find("local"); l != d.end()) {
          if (!l->is_string()) fail(ErrorKind::InvalidArgument, "{}.local: expected a served model name", dw);
          dep->model = l->get<std::string>();
          dep->name = "local:" + dep->model;
        } else {
          auto prov = d.find("provider");
          auto model = d.find("model");
          if (prov == d.end() || !prov->is_string())
            fail(ErrorKind::InvalidArgument,
                 "{}: expected {{\"local\": NAME}} or {{\"provider\": NAME, \"model\": ID}}", dw);
          dep->provider = prov->get<std::string>();
          auto it = clients_.find(dep->provider);
          if (it == clients_.end()) {
            // A provider type named without a `providers` entry: configured from its environment.
            providers::ProviderConfig c = providers::provider_config_from_env(dep->provider, env);
            it = clients_
                     .emplace(dep->provider,
                              std::make_unique<providers::ProviderClient>(providers::make_provider(c), options_.hooks))
                     .first;
          }
          dep->client = it->second.get();
          dep->model = model != d.end() && model->is_string() ? model->get<std::string>() : public_name;
          dep->name = dep->provider + "/" + dep->model;
        }
        if (auto pr = d.find("priority"); pr != d.end()) {
          if (!pr->is_number_integer()) fail(ErrorKind::InvalidArgument, "{}.priority: expected an integer", dw);
          dep->priority = pr->get<int>();
        }
        dep->breaker = std::make_unique<providers::CircuitBreaker>(
            options_.breaker_failures, options_.breaker_cooldown,
            options_.hooks.clock ? options_.hooks.clock : providers::ClockFn(providers::SteadyClock::now));
        route.deployments.push_back(std::move(dep));
      }
      routes_.emplace(public_name, std::move(route));
    }
  }
}

std::unique_ptr<Router> Router::from_file(const std::string& path, const providers::EnvLookup& env) {
  const std::string text = read_bounded_file(path, 4u << 20);
  JsonLimits limits;
  limits.kind = ErrorKind::InvalidArgument;
  limits.reject_duplicate_keys = true;
  return std::make_unique<Router>(parse_json_bounded(text, path, limits), env, providers::ClientHooks{},
                                  std::filesystem::path(path).parent_path().string());
}

std::unique_ptr<Router> Router::for_provider(const std::string& type, const providers::EnvLookup& env) {
  nlohmann::json providers_obj = nlohmann::json::object();
  providers::provider_config_from_env(type, env);  // InvalidArgument for an unknown type
  providers_obj[type] = nlohmann::json{{"type", type}};
  return std::make_unique<Router>(nlohmann::json{{"providers", providers_obj}}, env);
}

std::vector<std::string> Router::public_names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : routes_) out.push_back(name);
  return out;
}

providers::ProviderClient& Router::provider(const std::string& name) {
  auto it = clients_.find(name);
  if (it == clients_.end()) {
    std::string known;
    for (const auto& [n, _] : clients_) known += (known.empty() ? "" : ", ") + n;
    fail(ErrorKind::InvalidArgument, "no provider `{}` is configured (configured: {})", name,
         known.empty() ? "none" : known);
  }
  return *it->second;
}

std::vector<Deployment*> Router::plan(const std::string& public_name) {
  auto it = routes_.find(public_name);
  if (it == routes_.end()) fail(ErrorKind::NotFound, "no route for model `{}`", public_name);
  Route& r = it->second;
  std::vector<Deployment*> ready;
  std::string why;
  for (auto& d : r.deployments) {
    if (d->breaker->state() == providers::BreakerState::Open) {
      why += fmt::format("{}{}: breaker open", why.empty() ? "" : "; ", d->name);
      continue;
    }
    if (d->client && !d->client->available()) {
      why += fmt::format("{}{}: provider unavailable (breaker open or every key benched)", why.empty() ? "" : "; ",
                         d->name);
      continue;
    }
    ready.push_back(d.get());
  }
  if (ready.empty()) fail(ErrorKind::Unavailable, "no deployment of `{}` is available now ({})", public_name, why);
  std::lock_guard lock(mu_);
  auto load = [](const Deployment* d) {
    return d->client ? d->client->running() + static_cast<int>(d->client->waiting()) : d->in_flight.load();
  };
  std::stable_sort(ready.begin(), ready.end(), [&](const Deployment* a, const Deployment* b) {
    if (a->priority != b->priority) return a->priority < b->priority;
    switch (r.strategy) {
      case Strategy::Ordered: return a->position < b->position;
      case Strategy::LeastBusy: return load(a) < load(b);
      case Strategy::Latency: {
        // Expected time: measured latency scaled by the work queued ahead; an unmeasured
        // deployment counts as instant so that it gets measured.
        const double ea = a->latency_ewma_s * (1 + load(a)), eb = b->latency_ewma_s * (1 + load(b));
        return ea < eb;
      }
    }
    return false;
  });
  return ready;
}

Deployment& Router::run(const std::string& public_name, const std::function<void(Deployment&)>& attempt,
                        const std::function<bool()>& output_started, std::optional<providers::Capability> capability) {
  auto capable = [&](const Deployment& d) {
    return !capability || d.local() || d.client->provider().supports(*capability);
  };
  if (capability) {
    auto it = routes_.find(public_name);
    if (it != routes_.end() && std::none_of(it->second.deployments.begin(), it->second.deployments.end(),
                                            [&](const std::unique_ptr<Deployment>& d) { return capable(*d); })) {
      std::string which;
      for (const auto& d : it->second.deployments)
        which += fmt::format("{}{} ({})", which.empty() ? "" : ", ", d->name,
                             d->local() ? std::string("local") : d->client->config().type);
      fail(ErrorKind::InvalidArgument, "no deployment of `{}` has a {} API: {}", public_name,
           providers::capability_name(*capability), which);
    }
  }
  std::exception_ptr last;
  std::string tried;
  for (Deployment* d : plan(public_name)) {
    if (!capable(*d)) continue;          // a deployment of another kind (a chat model of the same name)
    if (!d->breaker->allow()) continue;  // a half-open deployment's probe is already out
    ++d->requests;
    ++d->in_flight;
    const auto t0 = Clock::now();
    try {
      attempt(*d);
      --d->in_flight;
      d->breaker->record_success();
      const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
      std::lock_guard lock(mu_);
      d->latency_ewma_s = d->latency_ewma_s == 0 ? dt : 0.8 * d->latency_ewma_s + 0.2 * dt;
      return *d;
    } catch (...) {
      --d->in_flight;
      last = std::current_exception();
      if (!may_fall_back(last)) {
        d->breaker->record_success();  // the deployment answered; the request was at fault
        throw;
      }
      ++d->failures;
      d->breaker->record_failure();
      tried += fmt::format("{}{}: {}", tried.empty() ? "" : "; ", d->name, message_of(last));
      if (output_started && output_started()) throw;
      spdlog::warn("router: `{}` failed on {} ({}); trying the next deployment", public_name, d->name,
                   message_of(last));
    }
  }
  if (!last) fail(ErrorKind::Unavailable, "no deployment of `{}` is available now", public_name);
  fail(ErrorKind::Unavailable, "every deployment of `{}` failed: {}", public_name, tried);
}

providers::TextResult Router::run_text(const std::string& public_name, const providers::OnText& on_text,
                                       const LocalChat& local, const RemoteText& remote, std::string* answered_by) {
  providers::TextResult result;
  bool started = false;
  const providers::OnText guard = on_text ? providers::OnText([&](std::string_view d) {
    started = true;
    return on_text(d);
  })
                                          : providers::OnText();
  Deployment& d = run(
      public_name,
      [&](Deployment& dep) {
        if (dep.local()) {
          if (!local) fail(ErrorKind::Unavailable, "local deployment `{}` is not served here", dep.model);
          result = local(dep, guard);
          return;
        }
        result = remote(dep, guard);
      },
      [&] { return started; });
  if (answered_by) *answered_by = d.name;
  return result;
}

providers::TextResult Router::chat(const std::string& public_name, providers::ChatCall call,
                                   const providers::OnText& on_text, providers::Priority priority,
                                   const LocalChat& local, std::string* answered_by) {
  return run_text(
      public_name, on_text, local,
      [&](Deployment& dep, const providers::OnText& guard) {
        call.model = dep.model;
        return dep.client->chat(call, guard, priority);
      },
      answered_by);
}

providers::TextResult Router::complete(const std::string& public_name, providers::CompletionCall call,
                                       const providers::OnText& on_text, providers::Priority priority,
                                       const LocalChat& local, std::string* answered_by) {
  return run_text(
      public_name, on_text, local,
      [&](Deployment& dep, const providers::OnText& guard) {
        call.model = dep.model;
        return dep.client->complete(call, guard, priority);
      },
      answered_by);
}

providers::EmbedResult Router::embed(const std::string& public_name, providers::EmbedCall call,
                                     providers::Priority priority, std::string* answered_by) {
  providers::EmbedResult result;
  Deployment& d = run(public_name, [&](Deployment& dep) {
    if (dep.local()) fail(ErrorKind::Unavailable, "local deployment `{}` is not served here", dep.model);
    call.model = dep.model;
    result = dep.client->embed(call, priority);
  });
  if (answered_by) *answered_by = d.name;
  return result;
}

providers::TranscriptionResult Router::transcribe(const std::string& public_name, providers::TranscribeCall call,
                                                  providers::Priority priority, const LocalTranscribe& local,
                                                  std::string* answered_by, const providers::OnText& on_text) {
  providers::TranscriptionResult result;
  bool started = false;
  const providers::OnText guard = on_text ? providers::OnText([&](std::string_view d) {
    started = true;
    return on_text(d);
  })
                                          : providers::OnText();
  Deployment& d = run(
      public_name,
      [&](Deployment& dep) {
        if (dep.local()) {
          if (!local) fail(ErrorKind::Unavailable, "local deployment `{}` is not served here", dep.model);
          result = local(dep);
          return;
        }
        call.model = dep.model;
        result = dep.client->transcribe(call, priority, guard);
      },
      [&] { return started; }, providers::Capability::Transcription);
  if (answered_by) *answered_by = d.name;
  return result;
}

std::string Router::prometheus_text() const {
  std::string out;
  auto family = [&out](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  family("ia_provider_requests_total", "counter", "Calls to a remote provider, by provider and model.");
  for (const auto& [pname, c] : clients_)
    for (const auto& [model, s] : c->stats())
      out += fmt::format("ia_provider_requests_total{{provider=\"{}\",model=\"{}\"}} {}\n", prom_escape(pname),
                         prom_escape(model), s.requests);
  family("ia_provider_errors_total", "counter", "Failed provider attempts, by failure class.");
  for (const auto& [pname, c] : clients_)
    for (const auto& [model, s] : c->stats())
      for (const auto& [cls, n] : s.errors)
        out += fmt::format("ia_provider_errors_total{{provider=\"{}\",model=\"{}\",class=\"{}\"}} {}\n",
                           prom_escape(pname), prom_escape(model), cls, n);
  family("ia_provider_retries_total", "counter", "Retries of provider calls.");
  for (const auto& [pname, c] : clients_)
    for (const auto& [model, s] : c->stats())
      out += fmt::format("ia_provider_retries_total{{provider=\"{}\",model=\"{}\"}} {}\n", prom_escape(pname),
                         prom_escape(model), s.retries);
  family("ia_provider_tokens_total", "counter", "Tokens sent to (in) and received from (out) providers.");
  for (const auto& [pname, c] : clients_)
    for (const auto& [model, s] : c->stats()) {
      out += fmt::format("ia_provider_tokens_total{{provider=\"{}\",model=\"{}\",direction=\"in\"}} {}\n",
                         prom_escape(pname), prom_escape(model), s.tokens_in);
      out += fmt::format("ia_provider_tokens_total{{provider=\"{}\",model=\"{}\",direction=\"out\"}} {}\n",
                         prom_escape(pname), prom_escape(model), s.tokens_out);
    }
  family("ia_provider_cost_usd_total", "counter", "USD spent at providers, from the configured prices and the usage.");
  for (const auto& [pname, c] : clients_)
    for (const auto& [model, s] : c->stats())
      out += fmt::format("ia_provider_cost_usd_total{{provider=\"{}\",model=\"{}\"}} {}\n", prom_escape(pname),
                         prom_escape(model), s.cost_usd);
  family("ia_provider_spent_usd", "gauge",
         "USD spent at a provider in its budget's period (the spend file's: every process, across restarts).");
  for (const auto& [pname, c] : clients_) {
    if (c->config().prices.empty()) continue;
    try {
      out += fmt::format("ia_provider_spent_usd{{provider=\"{}\",period=\"{}\"}} {}\n", prom_escape(pname),
                         c->budget_period_key(), c->budget_spent_usd());
    } catch (const std::exception&) {  // an unreadable spend file: no sample (providers status says why)
    }
  }
  family("ia_provider_budget_usd", "gauge", "A provider's budget_usd for its period.");
  for (const auto& [pname, c] : clients_)
    if (c->config().budget_usd > 0)
      out += fmt::format("ia_provider_budget_usd{{provider=\"{}\"}} {}\n", prom_escape(pname), c->config().budget_usd);
  family("ia_provider_latency_seconds", "histogram", "Provider call latency, retries and waits included.");
  for (const auto& [pname, c] : clients_)
    for (const auto& [model, s] : c->stats()) {
      int64_t cum = 0;
      const std::string labels = fmt::format("provider=\"{}\",model=\"{}\"", prom_escape(pname), prom_escape(model));
      for (size_t b = 0; b < s.latency_buckets.size(); ++b) {
        cum += s.latency_buckets[b];
        const std::string le = b < std::size(providers::kLatencyBounds)
                                   ? fmt::format("{:g}", providers::kLatencyBounds[b])
                                   : std::string("+Inf");
        out += fmt::format("ia_provider_latency_seconds_bucket{{{},le=\"{}\"}} {}\n", labels, le, cum);
      }
      out += fmt::format("ia_provider_latency_seconds_sum{{{}}} {}\n", labels, s.latency_sum_s);
      out += fmt::format("ia_provider_latency_seconds_count{{{}}} {}\n", labels, cum);
    }
  family("ia_provider_breaker_open", "gauge", "1 while a provider's breaker is open, 0.5 half-open, 0 closed.");
  for (const auto& [pname, c] : clients_) {
    const auto st = c->breaker_state();
    out += fmt::format("ia_provider_breaker_open{{provider=\"{}\"}} {}\n", prom_escape(pname),
                       st == providers::BreakerState::Open       ? 1.0
                       : st == providers::BreakerState::HalfOpen ? 0.5
                                                                 : 0.0);
  }
  family("ia_provider_queue_depth", "gauge", "Provider calls waiting for a slot.");
  for (const auto& [pname, c] : clients_)
    out += fmt::format("ia_provider_queue_depth{{provider=\"{}\"}} {}\n", prom_escape(pname), c->waiting());
  family("ia_provider_running", "gauge", "Provider calls in flight.");
  for (const auto& [pname, c] : clients_)
    out += fmt::format("ia_provider_running{{provider=\"{}\"}} {}\n", prom_escape(pname), c->running());
  family("ia_provider_key_usable", "gauge", "1 for an API key in use, 0 while it is benched (labelled by source).");
  for (const auto& [pname, c] : clients_)
    for (const auto& k : c->keys().keys())
      out += fmt::format("ia_provider_key_usable{{provider=\"{}\",key=\"{}\"}} {}\n", prom_escape(pname),
                         prom_escape(k->label), k->breaker.state() == providers::BreakerState::Open ? 0 : 1);
  family("ia_router_deployment_requests_total", "counter", "Requests a deployment was tried for.");
  for (const auto& [name, r] : routes_)
    for (const auto& d : r.deployments)
      out += fmt::format("ia_router_deployment_requests_total{{route=\"{}\",deployment=\"{}\"}} {}\n",
                         prom_escape(name), prom_escape(d->name), d->requests.load());
  family("ia_router_deployment_failures_total", "counter", "Tries of a deployment that failed over to the next.");
  for (const auto& [name, r] : routes_)
    for (const auto& d : r.deployments)
      out += fmt::format("ia_router_deployment_failures_total{{route=\"{}\",deployment=\"{}\"}} {}\n",
                         prom_escape(name), prom_escape(d->name), d->failures.load());
  family("ia_router_deployment_breaker_open", "gauge", "1 while a deployment's breaker is open.");
  for (const auto& [name, r] : routes_)
    for (const auto& d : r.deployments)
      out += fmt::format("ia_router_deployment_breaker_open{{route=\"{}\",deployment=\"{}\"}} {}\n", prom_escape(name),
                         prom_escape(d->name), d->breaker->state() == providers::BreakerState::Open ? 1 : 0);
  return out;
}

nlohmann::json Router::status_json() const {
  nlohmann::json out{{"providers", nlohmann::json::array()}, {"routes", nlohmann::json::array()}};
  for (const auto& [pname, c] : clients_) {
    nlohmann::json keys = nlohmann::json::array();
    for (const auto& k : c->keys().keys())
      keys.push_back({{"source", k->label},
                      {"state", providers::breaker_state_name(k->breaker.state())},
                      {"in_flight", k->in_flight.load()},
                      {"requests", k->requests.load()},
                      {"failures", k->failures.load()}});
    nlohmann::json models = nlohmann::json::object();
    for (const auto& [model, s] : c->stats())
      models[model.empty() ? "(none)" : model] = {
          {"requests", s.requests},   {"successes", s.successes},   {"retries", s.retries},  {"errors", s.errors},
          {"tokens_in", s.tokens_in}, {"tokens_out", s.tokens_out}, {"cost_usd", s.cost_usd}};
    out["providers"].push_back({{"name", pname},
                                {"type", c->config().type},
                                {"base_url", c->config().base_url},
                                {"breaker", providers::breaker_state_name(c->breaker_state())},
                                {"running", c->running()},
                                {"waiting", c->waiting()},
                                {"latency_ewma_s", c->latency_ewma_s()},
                                {"keys", keys},
                                {"models", models},
                                {"spend", spend_json(*c)}});
  }
  std::lock_guard lock(mu_);
  for (const auto& [name, r] : routes_) {
    nlohmann::json deps = nlohmann::json::array();
    for (const auto& d : r.deployments)
      deps.push_back({{"deployment", d->name},
                      {"priority", d->priority},
                      {"breaker", providers::breaker_state_name(d->breaker->state())},
                      {"requests", d->requests.load()},
                      {"failures", d->failures.load()},
                      {"latency_ewma_s", d->latency_ewma_s}});
    out["routes"].push_back({{"model", name}, {"strategy", strategy_name(r.strategy)}, {"deployments", deps}});
  }
  return out;
}

}  // namespace ia::router
