#include "providers/provider_client.h"

#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace ia::providers {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

ProviderClient::ProviderClient(std::unique_ptr<Provider> provider, ClientHooks hooks, std::shared_ptr<SpendStore> spend)
    : provider_(std::move(provider)),
      hooks_(std::move(hooks)),
      gate_(provider_->config().max_concurrency, provider_->config().max_queue),
      breaker_(provider_->config().breaker_failures, provider_->config().breaker_cooldown, hooks_.clock),
      keys_(provider_->config().keys, provider_->config().key_labels, provider_->config().key_cooldown,
            KeySelection::LeastLoaded, hooks_.clock),
      rng_(std::random_device{}()),
      spend_(std::move(spend)) {
  if (!hooks_.wall_clock) hooks_.wall_clock = [] { return std::chrono::system_clock::now(); };
  backoff_.base = config().backoff_base;
  backoff_.cap = config().backoff_cap;
  backoff_.max_hint = config().max_hint;
  if (!hooks_.sleep) hooks_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
}

bool ProviderClient::available() const {
  if (breaker_.state() == BreakerState::Open) return false;
  for (const auto& k : keys_.keys())
    if (k->breaker.state() != BreakerState::Open) return true;
  return false;
}

double ProviderClient::latency_ewma_s() const {
  std::lock_guard lock(mu_);
  return latency_ewma_s_;
}

double ProviderClient::spent_usd() const {
  std::lock_guard lock(mu_);
  double total = 0;
  for (const auto& [model, s] : stats_) total += s.cost_usd;
  return total;
}

std::string ProviderClient::budget_period_key() const {
  return spend_period_key(config().budget_period, hooks_.wall_clock());
}

double ProviderClient::budget_spent_usd() {
  const std::string period = budget_period_key();
  if (spend_) return spend_->spent(name(), period);
  std::lock_guard lock(mu_);
  auto it = period_spend_.find(period);
  return it == period_spend_.end() ? 0 : it->second;
}

std::map<std::string, CallStats> ProviderClient::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void ProviderClient::record(const std::string& model, const std::function<void(CallStats&)>& f) {
  std::lock_guard lock(mu_);
  CallStats& s = stats_[model];
  if (s.latency_buckets.empty()) s.latency_buckets.assign(std::size(kLatencyBounds) + 1, 0);
  f(s);
}

void ProviderClient::run(const std::string& model, Priority p, bool streaming,
                         const std::function<Usage(const std::string& key, const OnText& forward_guard)>& attempt,
                         const OnText& on_text) {
  record(model, [](CallStats& s) { ++s.requests; });
  if (config().budget_usd > 0) {
    const double spent = budget_spent_usd();
    if (spent >= config().budget_usd) {
      record(model, [](CallStats& s) { ++s.errors["budget"]; });
      const std::string period = budget_period_key();
      throw ProviderError(FailureClass::KeyFault, 402,
                          fmt::format("{}: its budget of {:.2f} USD {}is spent ({:.4f} USD {})", name(),
                                      config().budget_usd, period == "total" ? "" : "for " + period + " (UTC) ", spent,
                                      spend_ ? "recorded in " + spend_->path() : std::string("in this process")));
    }
  }
  const auto t0 = hooks_.clock();
  std::unique_ptr<RequestGate::Slot> slot;
  try {
    slot = std::make_unique<RequestGate::Slot>(gate_, p, Clock::now() + config().timeouts.total);
  } catch (const Error&) {
    record(model, [](CallStats& s) { ++s.errors["queue"]; });
    throw;
  }
  bool forwarded = false;
  const OnText guard = streaming ? OnText([&](std::string_view d) {
    forwarded = true;
    return on_text(d);
  })
                                 : OnText();
  for (int n = 0;; ++n) {
    if (!breaker_.allow()) {
      record(model, [](CallStats& s) { ++s.errors["breaker_open"]; });
      const double wait = std::max(0.0, seconds_between(hooks_.clock(), breaker_.retry_at()));
      throw ProviderError(
          FailureClass::Overloaded, 0,
          fmt::format("{}: circuit breaker open after repeated failures (next try in {:.0f} s)", name(), wait));
    }
    KeyPool::Key* key = keys_.acquire();
    if (!key) {
      breaker_.record_success();  // the provider was not tried: release a half-open probe
      record(model, [](CallStats& s) { ++s.errors["no_key"]; });
      const double wait = std::max(0.0, seconds_between(hooks_.clock(), keys_.next_available()));
      throw ProviderError(FailureClass::KeyFault, 0,
                          fmt::format("{}: every API key is benched (the first returns in {:.0f} s)", name(), wait));
    }
    try {
      const Usage u = attempt(key->secret, guard);
      keys_.release(key);
      key->breaker.record_success();
      breaker_.record_success();
      const double dt = seconds_between(t0, hooks_.clock());
      const double cost = config().cost_usd(model, u.input_tokens, u.output_tokens, u.audio_seconds);
      const std::string month = spend_period_key(ProviderConfig::BudgetPeriod::Month, hooks_.wall_clock());
      record(model, [&](CallStats& s) {
        ++s.successes;
        s.tokens_in += u.input_tokens;
        s.tokens_out += u.output_tokens;
        s.cost_usd += cost;
        if (cost > 0) {
          period_spend_["total"] += cost;
          period_spend_[month] += cost;
        }
        s.latency_sum_s += dt;
        size_t b = 0;
        while (b < std::size(kLatencyBounds) && dt > kLatencyBounds[b]) ++b;
        ++s.latency_buckets[b];
        latency_ewma_s_ = latency_ewma_s_ == 0 ? dt : 0.8 * latency_ewma_s_ + 0.2 * dt;
      });
      if (spend_ && cost > 0) {
        try {
          spend_->add(name(), model, cost, month);
        } catch (const std::exception& x) {  // the answer stands; the amount is kept and written later
          spdlog::error("{}: {:.6f} USD not yet recorded: {}", name(), cost, x.what());
        }
      }
      return;
    } catch (const ProviderError& e) {
      keys_.release(key);
      ++key->failures;
      const FailureClass c = e.failure();
      record(model, [&](CallStats& s) { ++s.errors[failure_class_name(c)]; });
      switch (c) {
        case FailureClass::CallerFault:
          breaker_.record_success();  // the provider answered; the request was at fault
          key->breaker.record_success();
          break;
        case FailureClass::KeyFault:
          key->breaker.trip(config().key_cooldown);
          breaker_.record_success();
          spdlog::warn("{}: key `{}` benched for {} s: {}", name(), key->label,
                       std::chrono::duration_cast<std::chrono::seconds>(config().key_cooldown).count(), e.what());
          break;
        case FailureClass::RateLimited: break;  // the key rests for the wait (below)
        default: breaker_.record_failure(); break;
      }
      const bool retry = c == FailureClass::KeyFault ? keys_.size() > 1 : is_retryable(c);
      if (!retry || forwarded || n >= config().max_retries) {
        if (c == FailureClass::RateLimited) key->breaker.trip(backoff_delay(backoff_, n, e.retry_after(), rng_));
        throw;
      }
      auto delay = c == FailureClass::KeyFault ? std::chrono::milliseconds(0)
                                               : backoff_delay(backoff_, n, e.retry_after(), rng_);
      if (c == FailureClass::RateLimited) {
        // The limit is the key's: it rests for the wait, and another key (if any) goes at once.
        key->breaker.trip(delay);
        if (keys_.any_usable()) delay = std::chrono::milliseconds(0);
      }
      record(model, [](CallStats& s) { ++s.retries; });
      spdlog::debug("{}: retry {} in {} ms after: {}", name(), n + 1, delay.count(), e.what());
      hooks_.sleep(delay);
    } catch (...) {
      keys_.release(key);
      breaker_.record_success();  // not the provider's failure (unsupported call, a bug): free a probe slot
      record(model, [](CallStats& s) { ++s.errors["other"]; });
      throw;
    }
  }
}

TextResult ProviderClient::chat(const ChatCall& call, const OnText& on_text, Priority p) {
  TextResult r;
  run(
      call.model, p, static_cast<bool>(on_text),
      [&](const std::string& key, const OnText& guard) {
        r = provider_->chat(call, key, guard);
        return r.usage;
      },
      on_text);
  return r;
}

TextResult ProviderClient::complete(const CompletionCall& call, const OnText& on_text, Priority p) {
  TextResult r;
  run(
      call.model, p, static_cast<bool>(on_text),
      [&](const std::string& key, const OnText& guard) {
        r = provider_->complete(call, key, guard);
        return r.usage;
      },
      on_text);
  return r;
}

EmbedResult ProviderClient::embed(const EmbedCall& call, Priority p) {
  const size_t batch = config().embed_batch ? config().embed_batch : call.inputs.size();
  EmbedResult out;
  for (size_t i = 0; i < call.inputs.size() || (i == 0 && call.inputs.empty()); i += std::max<size_t>(batch, 1)) {
    EmbedCall part = call;
    part.inputs.assign(call.inputs.begin() + static_cast<std::ptrdiff_t>(i),
                       call.inputs.begin() + static_cast<std::ptrdiff_t>(std::min(call.inputs.size(), i + batch)));
    EmbedResult r;
    run(
        call.model, p, false,
        [&](const std::string& key, const OnText&) {
          r = provider_->embed(part, key);
          return r.usage;
        },
        nullptr);
    out.model = r.model;
    out.usage.input_tokens += r.usage.input_tokens;
    for (auto& v : r.vectors) out.vectors.push_back(std::move(v));
    if (call.inputs.empty()) break;
  }
  return out;
}

std::vector<RerankScore> ProviderClient::rerank(const RerankCall& call, Priority p) {
  std::vector<RerankScore> out;
  run(
      call.model, p, false,
      [&](const std::string& key, const OnText&) {
        out = provider_->rerank(call, key);
        return Usage{};
      },
      nullptr);
  return out;
}

TranscriptionResult ProviderClient::transcribe(const TranscribeCall& call, Priority p, const OnText& on_text) {
  TranscriptionResult out;
  run(
      call.model, p, static_cast<bool>(on_text),
      [&](const std::string& key, const OnText& guard) {
        out = provider_->transcribe(call, key, guard);
        return out.usage;
      },
      on_text);
  return out;
}

std::vector<std::string> ProviderClient::list_models() {
  std::vector<std::string> out;
  run(
      "", Priority::High, false,
      [&](const std::string& key, const OnText&) {
        out = provider_->list_models(key);
        return Usage{};
      },
      nullptr);
  return out;
}

void ProviderClient::health() {
  run(
      "", Priority::High, false,
      [&](const std::string& key, const OnText&) {
        provider_->health(key);
        return Usage{};
      },
      nullptr);
}

}  // namespace ia::providers
