// `providers`: the remote providers and routes of a --providers file (or one provider from its
// environment): `list` (what is configured, keys shown only by where they come from, spend
// against budget from the spend file), `test` (one cheap request to each: the model list or the
// health route) and `status` (a running gateway's breakers, queues, keys, counters and spend as
// JSON).
#include <iostream>

#include <fmt/format.h>

#include "cli/cli_common.h"
#include "cli/server_query.h"
#include "core/error.h"
#include "providers/provider_config.h"

namespace ia::cli {

std::unique_ptr<router::Router> open_router(const std::string& provider, const std::string& providers_file) {
  if (!providers_file.empty()) {
    auto r = router::Router::from_file(providers_file, providers::process_env());
    if (!provider.empty()) r->provider(provider);  // InvalidArgument when the file has no such provider
    return r;
  }
  return router::Router::for_provider(provider, providers::process_env());
}

namespace {

struct ProvidersArgs {
  std::string provider, providers_file;
  std::string url = "http://127.0.0.1:8080", api_key;
};

// A running gateway's live state: GET URL/v1/providers/status.
int run_status(const ProvidersArgs& a) {
  std::cout << json_text(get_server_json(a.url, "/v1/providers/status", a.api_key)) << "\n";
  return 0;
}

int run_test(const ProvidersArgs& a) {
  auto r = open_router(a.provider, a.providers_file);
  int failed = 0;
  for (const auto& [name, client] : r->providers()) {
    if (!a.provider.empty() && name != a.provider) continue;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      client->health();
      std::string models;
      if (client->provider().supports(providers::Capability::Models)) {
        try {
          const auto list = client->list_models();
          models = fmt::format(", {} model{}", list.size(), list.size() == 1 ? "" : "s");
        } catch (const std::exception&) {
        }
      }
      std::cout << fmt::format(
          "ok    {} ({}, {}): answered in {:.0f} ms{}\n", name, client->config().type, client->config().base_url,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(), models);
    } catch (const std::exception& e) {
      ++failed;
      std::cout << fmt::format("FAIL  {} ({}, {}): {}\n", name, client->config().type, client->config().base_url,
                               e.what());
    }
  }
  std::cout.flush();
  return failed == 0 ? 0 : 2;
}

int run_list(const ProvidersArgs& a) {
  auto r = open_router(a.provider, a.providers_file);
  const nlohmann::json s = r->status_json();
  nlohmann::json out{{"providers", nlohmann::json::array()}, {"routes", s["routes"]}};
  for (const auto& p : s["providers"]) {
    nlohmann::json keys = nlohmann::json::array();
    for (const auto& k : p["keys"]) keys.push_back(k["source"]);
    out["providers"].push_back(
        {{"name", p["name"]}, {"type", p["type"]}, {"base_url", p["base_url"]}, {"keys", keys}, {"spend", p["spend"]}});
  }
  std::cout << json_text(out) << "\n";
  return 0;
}

}  // namespace

void register_providers(CLI::App& app, Context&, Action& action) {
  auto a = std::make_shared<ProvidersArgs>();
  CLI::App* sub = app.add_subcommand("providers", "Remote inference providers and the router (docs/providers.md)");
  sub->require_subcommand(1);
  auto add_common = [a](CLI::App* c) {
    c->add_option("--providers", a->providers_file, "Router configuration (JSON)");
    c->add_option("--provider", a->provider,
                  "Only this provider (a type configured from its environment without --providers)");
  };
  CLI::App* test = sub->add_subcommand("test", "Check each provider with one cheap request and say what works");
  add_common(test);
  test->callback([&action, a] {
    if (a->providers_file.empty() && a->provider.empty())
      throw CLI::RequiredError("--providers FILE or --provider NAME");
    action = [a] { return run_test(*a); };
  });
  CLI::App* status =
      sub->add_subcommand("status", "A running gateway's breakers, queue depths, key health and counters (JSON)");
  status->add_option("--url", a->url, "The server (serve --providers)")->capture_default_str();
  status->add_option("--api-key", a->api_key, "Its --api-key, if it has one");
  status->callback([&action, a] { action = [a] { return run_status(*a); }; });
  CLI::App* list = sub->add_subcommand("list", "The configured providers (keys by source only) and routes, as JSON");
  add_common(list);
  list->callback([&action, a] {
    if (a->providers_file.empty() && a->provider.empty())
      throw CLI::RequiredError("--providers FILE or --provider NAME");
    action = [a] { return run_list(*a); };
  });
}

}  // namespace ia::cli
