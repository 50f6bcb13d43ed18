#include "providers/provider_config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/bounded_json.h"

namespace ia::providers {

namespace {

std::chrono::milliseconds seconds_field(const nlohmann::json& j, const char* key, std::chrono::milliseconds dflt,
                                        const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) return dflt;
  if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 86400 * 7)
    fail(ErrorKind::InvalidArgument, "{}.{}: expected seconds (a number from 0 to 604800)", where, key);
  return std::chrono::milliseconds(static_cast<int64_t>(it->get<double>() * 1000));
}

int64_t int_field(const nlohmann::json& j, const char* key, int64_t dflt, int64_t lo, int64_t hi,
                  const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) return dflt;
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi)
    fail(ErrorKind::InvalidArgument, "{}.{}: expected an integer from {} to {}", where, key, lo, hi);
  return it->get<int64_t>();
}

std::string read_key_file(const std::string& path, const std::string& where) {
  const std::string text = read_bounded_file(path, 64 * 1024);
  std::string key = text;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.empty()) fail(ErrorKind::InvalidArgument, "{}: key file `{}` is empty", where, path);
  return key;
}

std::string strip_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// OLLAMA_HOST is often "host:port" or "0.0.0.0" without a scheme, as the ollama CLI accepts it.
std::string normalize_base_url(const std::string& type, std::string url) {
  if (type == "ollama" && url.find("://") == std::string::npos) {
    if (url.rfind("0.0.0.0", 0) == 0) url = "127.0.0.1" + url.substr(7);
    if (url.find(':') == std::string::npos) url += ":11434";
    url = "http://" + url;
  }
  return strip_slash(url);
}

void fill_from_env(ProviderConfig& c, const EnvLookup& env, bool keys_given) {
  const ProviderDefaults d = provider_defaults(c.type);
  if (c.base_url.empty()) {
    for (const auto& var : d.base_url_env)
      if (auto v = env(var); v && !v->empty()) {
        c.base_url = normalize_base_url(c.type, *v);
        break;
      }
    if (c.base_url.empty()) c.base_url = d.base_url;
  }
  if (!keys_given) {
    for (const auto& var : d.key_env)
      if (auto v = env(var); v && !v->empty()) {
        c.keys.push_back(*v);
        c.key_labels.push_back("env " + var);
        break;
      }
  }
}

}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

ProviderConfig provider_config_from_env(const std::string& type, const EnvLookup& env) {
  ProviderConfig c;
  c.name = type;
  c.type = type;
  if (provider_defaults(type).base_url.empty()) {
    std::string known;
    for (const auto& t : provider_types()) known += (known.empty() ? "" : ", ") + t;
    fail(ErrorKind::InvalidArgument, "unknown provider `{}` (known types: {}; or name one in --providers FILE)", type,
         known);
  }
  fill_from_env(c, env, /*keys_given=*/false);
  return c;
}

ProviderConfig provider_config_from_json(const std::string& name, const nlohmann::json& j, const EnvLookup& env) {
  const std::string where = "providers." + name;
  if (!j.is_object()) fail(ErrorKind::InvalidArgument, "{}: expected an object", where);
  ProviderConfig c;
  c.name = name;
  if (auto t = j.find("type"); t != j.end() && !t->is_string())
    fail(ErrorKind::InvalidArgument, "{}.type: expected a provider type name (a string)", where);
  c.type = j.value("type", name);
  if (provider_defaults(c.type).base_url.empty()) {
    std::string known;
    for (const auto& t : provider_types()) known += (known.empty() ? "" : ", ") + t;
    fail(ErrorKind::InvalidArgument, "{}.type: unknown provider type `{}` (known: {})", where, c.type, known);
  }
  if (auto it = j.find("base_url"); it != j.end()) {
    if (!it->is_string() || it->get<std::string>().find("://") == std::string::npos)
      fail(ErrorKind::InvalidArgument, "{}.base_url: expected an http(s) URL", where);
    c.base_url = strip_slash(it->get<std::string>());
  }
  bool keys_given = false;
  if (auto it = j.find("keys"); it != j.end()) {
    keys_given = true;
    if (!it->is_array())
      fail(ErrorKind::InvalidArgument, "{}.keys: expected an array of {{\"env\"|\"file\": …}}", where);
    for (size_t i = 0; i < it->size(); ++i) {
      const auto& k = (*it)[i];
      const std::string kw = fmt::format("{}.keys[{}]", where, i);
      if (k.is_object() && k.contains("env") && k["env"].is_string()) {
        const std::string var = k["env"];
        auto v = env(var);
        if (!v || v->empty()) fail(ErrorKind::InvalidArgument, "{}: environment variable {} is not set", kw, var);
        c.keys.push_back(*v);
        c.key_labels.push_back("env " + var);
      } else if (k.is_object() && k.contains("file") && k["file"].is_string()) {
        const std::string path = k["file"];
        c.keys.push_back(read_key_file(path, kw));
        c.key_labels.push_back("file " + path);
      } else {
        fail(ErrorKind::InvalidArgument,
             "{}: expected {{\"env\": \"NAME\"}} or {{\"file\": \"PATH\"}} (keys are never written in this file)", kw);
      }
    }
  }
  if (auto it = j.find("headers"); it != j.end()) {
    if (!it->is_object()) fail(ErrorKind::InvalidArgument, "{}.headers: expected an object of strings", where);
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) fail(ErrorKind::InvalidArgument, "{}.headers.{}: expected a string", where, k);
      c.headers[k] = v.get<std::string>();
    }
  }
  if (auto it = j.find("timeouts"); it != j.end()) {
    if (!it->is_object()) fail(ErrorKind::InvalidArgument, "{}.timeouts: expected an object", where);
    const std::string tw = where + ".timeouts";
    c.timeouts.connect = seconds_field(*it, "connect_s", c.timeouts.connect, tw);
    c.timeouts.first_byte = seconds_field(*it, "first_byte_s", c.timeouts.first_byte, tw);
    c.timeouts.idle = seconds_field(*it, "idle_s", c.timeouts.idle, tw);
    c.timeouts.total = seconds_field(*it, "total_s", c.timeouts.total, tw);
  }
  c.max_concurrency = static_cast<int>(int_field(j, "max_concurrency", c.max_concurrency, 1, 100000, where));
  c.max_queue = static_cast<size_t>(int_field(j, "max_queue", static_cast<int64_t>(c.max_queue), 0, 1 << 24, where));
  c.max_retries = static_cast<int>(int_field(j, "max_retries", c.max_retries, 0, 20, where));
  c.embed_batch = static_cast<size_t>(int_field(j, "embed_batch", 0, 0, 1 << 20, where));
  c.key_cooldown = seconds_field(j, "key_cooldown_s", c.key_cooldown, where);
  if (auto it = j.find("breaker"); it != j.end()) {
    if (!it->is_object()) fail(ErrorKind::InvalidArgument, "{}.breaker: expected an object", where);
    c.breaker_failures = static_cast<int>(int_field(*it, "failures", c.breaker_failures, 1, 1000, where + ".breaker"));
    c.breaker_cooldown = seconds_field(*it, "cooldown_s", c.breaker_cooldown, where + ".breaker");
  }
  if (auto it = j.find("backoff"); it != j.end()) {
    if (!it->is_object()) fail(ErrorKind::InvalidArgument, "{}.backoff: expected an object", where);
    c.backoff_base = seconds_field(*it, "base_s", c.backoff_base, where + ".backoff");
    c.backoff_cap = seconds_field(*it, "cap_s", c.backoff_cap, where + ".backoff");
    c.max_hint = seconds_field(*it, "max_hint_s", c.max_hint, where + ".backoff");
  }
  if (auto it = j.find("prices"); it != j.end()) {
    const std::string pw = where + ".prices";
    if (!it->is_object())
      fail(ErrorKind::InvalidArgument,
           "{}: expected {{\"MODEL\": {{\"input_per_million\": USD, \"output_per_million\": "
           "USD}}}}",
           pw);
    for (const auto& [model, v] : it->items()) {
      const std::string mw = pw + "." + model;
      if (!v.is_object()) fail(ErrorKind::InvalidArgument, "{}: expected an object", mw);
      ProviderConfig::Price price;
      for (const auto& [field, value] : v.items()) {
        if (field != "input_per_million" && field != "output_per_million" && field != "audio_per_minute")
          fail(ErrorKind::InvalidArgument,
               "{}.{}: unknown field (input_per_million, output_per_million, audio_per_minute)", mw, field);
        if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > 1e6)
          fail(ErrorKind::InvalidArgument, "{}.{}: expected USD per {}, 0 to 1000000", mw, field,
               field == "audio_per_minute" ? "minute of audio" : "million tokens");
        (field == "input_per_million"    ? price.input_per_million
         : field == "output_per_million" ? price.output_per_million
                                         : price.audio_per_minute) = value.get<double>();
      }
      c.prices[model] = price;
    }
  }
  if (auto it = j.find("budget_usd"); it != j.end()) {
    if (!it->is_number() || it->get<double>() < 0)
      fail(ErrorKind::InvalidArgument, "{}.budget_usd: expected USD, 0 or more (0: no limit)", where);
    if (c.prices.empty())
      fail(ErrorKind::InvalidArgument, "{}.budget_usd: needs `prices` to count the spend against", where);
    c.budget_usd = it->get<double>();
  }
  if (auto it = j.find("budget_period"); it != j.end()) {
    if (!it->is_string() || (*it != "total" && *it != "month"))
      fail(ErrorKind::InvalidArgument,
           "{}.budget_period: expected \"total\" (every call counts) or \"month\" (the UTC calendar month's)", where);
    c.budget_period = *it == "month" ? ProviderConfig::BudgetPeriod::Month : ProviderConfig::BudgetPeriod::Total;
  }
  fill_from_env(c, env, keys_given);
  return c;
}

}  // namespace ia::providers
