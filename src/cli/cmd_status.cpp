// `status`: a running server's resource pool (GET URL/v1/pool): per device its memory limit and
// what the loaded models use, per model where it is, whether it is loaded, its bytes (weights,
// KV cache, workspace), the requests in flight and when it was last used. JSON, or a table.
#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "cli/cli_common.h"
#include "cli/server_query.h"
#include "core/error.h"
#include "runtime/model_pool.h"

namespace ia::cli {

namespace {

struct StatusArgs {
  std::string url = "http://127.0.0.1:8080", api_key, format = "json";
};

std::string bytes_cell(const nlohmann::json& v) {
  return v.is_number_integer() ? format_bytes(v.get<int64_t>()) : "-";
}

std::string ago(const nlohmann::json& last_used) {
  if (!last_used.is_number_integer()) return "never";
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const int64_t s = std::max<int64_t>(0, now - last_used.get<int64_t>());
  if (s < 120) return fmt::format("{} s ago", s);
  if (s < 7200) return fmt::format("{} min ago", s / 60);
  return fmt::format("{} h ago", s / 3600);
}

std::string table(const nlohmann::json& pool) {
  std::string out = fmt::format("{:<10} {:>12} {:>12} {:>7}\n", "device", "limit", "used", "loaded");
  for (const auto& d : pool["devices"])
    out += fmt::format("{:<10} {:>12} {:>12} {:>7}\n", d["device"].get<std::string>(),
                       d["limit_bytes"].is_null() ? "none" : bytes_cell(d["limit_bytes"]), bytes_cell(d["used_bytes"]),
                       d["loaded_models"].get<int64_t>());
  out += "\n";
  size_t width = 5;
  for (const auto& m : pool["models"]) width = std::max(width, m["name"].get<std::string>().size());
  out += fmt::format("{:<{}} {:<7} {:<7} {:>11} {:>11} {:>11} {:>11} {:>9}  {}\n", "model", width, "device", "loaded",
                     "bytes", "weights", "kv_cache", "workspace", "in_flight", "last_used");
  for (const auto& m : pool["models"]) {
    const bool loaded = m["loaded"].get<bool>();
    out += fmt::format("{:<{}} {:<7} {:<7} {:>11} {:>11} {:>11} {:>11} {:>9}  {}\n", m["name"].get<std::string>(),
                       width, m["device"].is_string() ? m["device"].get<std::string>() : "-",
                       m["loading"].get<bool>() ? "loading"
                       : loaded                 ? "yes"
                                                : "no",
                       bytes_cell(m["bytes"]), bytes_cell(m["weights_bytes"]), bytes_cell(m["kv_cache_bytes"]),
                       bytes_cell(m["workspace_bytes"]), m["in_flight"].get<int64_t>(), ago(m["last_used"]));
  }
  const double idle = pool.value("idle_timeout_s", 0.0);
  out += fmt::format("\nidle timeout: {}; low-memory mode: {}\n", idle > 0 ? fmt::format("{:g} s", idle) : "none",
                     pool.value("low_memory", false) ? "on (one model at a time)" : "off");
  return out;
}

int run_status(const StatusArgs& a) {
  const nlohmann::json pool = get_server_json(a.url, "/v1/pool", a.api_key);
  if (a.format == "table") {
    try {
      std::cout << table(pool);
      return 0;
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::Corrupt, "{}/v1/pool answered something that is not its pool status: {}", a.url, e.what());
    }
  }
  std::cout << json_text(pool) << "\n";
  return 0;
}

}  // namespace

void register_status(CLI::App& app, Context&, Action& action) {
  auto a = std::make_shared<StatusArgs>();
  CLI::App* sub = app.add_subcommand(
      "status", "A running server's resource pool: models loaded per device, their memory, requests in flight");
  sub->add_option("--url", a->url, "The server (ipfs-accelerate serve)")->capture_default_str();
  sub->add_option("--api-key", a->api_key, "Its --api-key, if it has one");
  sub->add_option("--format", a->format, "json | table")
      ->check(CLI::IsMember({"json", "table"}))
      ->capture_default_str();
  sub->callback([&action, a] { action = [a] { return run_status(*a); }; });
}

}  // namespace ia::cli
