// Load generator for `ipfs-accelerate serve` (issue 13, "Performance"), in the manner of
// `vllm bench serve`: streamed OpenAI chat (or completions) requests with fixed prompt and output
// lengths (`max_tokens` + `ignore_eos`, greedy) sent to one server URL at fixed concurrency
// levels; per level it reports requests/s, output tokens/s, TTFT, TPOT and ITL p50/p99 and the
// errors, as a table on stdout and as JSON (--json FILE).
//
// Prompts are made of words from a fixed list, cut to N tokens with the server's own /tokenize
// and /detokenize, and every answer's usage is checked against the prompt's token count (as
// /tokenize counts the rendered messages) and max_tokens: a mismatch counts as an error. Each
// request has its own words (a later prefix cache must not turn this into a cache benchmark); an
// optional system prompt of S tokens is shared by every request (where prefix caching shows).
// The prompts, the streamed requests and the concurrent clients are the library's
// (server/load_client.h), which `bench --suite server-load` drives too; this program adds the
// levels' bounds, the vLLM-style report and the engine comparison.
//
// `--word-prompts` is for servers without /tokenize (the gateway to remote providers, any
// OpenAI-compatible service): prompts are N words and usage.prompt_tokens is reported, not
// checked. `--server-pid PID` adds, per level, that process's CPU seconds (user + system, from
// /proc/PID/stat) and its peak resident memory (VmHWM, reset before each level) to the report.
// $OPENAI_API_KEY, when set, is sent as the bearer token (as `vllm bench serve` does).
//
// `--engine-model DIR --compare REPORT.json` instead loads the same model folder in this process
// and runs each level's batch (same prompt and output lengths, read from the server's report)
// through Generator::generate_ids: the engine's own batch rate, and the server's rate as a
// fraction of it.
//
// Bounded: requests per level (--requests or --rounds x concurrency), an optional duration after
// which no new request starts, a per-level time limit after which requests in flight are
// cancelled, and a read timeout per request. It talks to the given URL only.
//
// Exit status: 0 every request succeeded, 1 some failed (the report says which), 2 bad
// arguments or a server that cannot be set up against.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/device.h"
#include "core/omp_wait.h"
#include "router/model_placement.h"
#include "runtime/device_selection.h"
#include "runtime/generation.h"
#include "server/load_client.h"

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string url;
  std::string model;              // empty: the first model of /v1/models
  std::string endpoint = "chat";  // chat | completions
  std::vector<int64_t> concurrency{1, 8, 32, 64};
  int64_t prompt_tokens = 128;       // of each request's own text
  int64_t system_prompt_tokens = 0;  // shared by every request; 0: none
  int64_t output_tokens = 128;       // max_tokens, with ignore_eos
  int64_t requests = 0;              // per level; 0: rounds x concurrency
  int64_t rounds = 2;                // requests per level per concurrent client when --requests is 0
  int64_t min_requests = 1;          // per level, when --requests is 0 (a level of 1 client measures more than 1)
  double duration_s = 0;             // per level: no request starts after this; 0: no limit
  double level_timeout_s = 600;      // per level: requests in flight are cancelled after this
  int64_t read_timeout_s = 60;       // per read (a quiet stream gets a keep-alive every second)
  int64_t warmup = 1;                // requests before the first level, not measured
  bool keep_alive = true;            // false: a new connection per request
  bool word_prompts = false;         // prompts of N words, no /tokenize (usage.prompt_tokens not checked)
  int64_t server_pid = 0;            // 0: no process accounting
  std::string api_key;               // $OPENAI_API_KEY, as vllm bench serve reads it; empty: none sent
  std::string json_path;
  // Engine mode.
  std::string engine_model, compare_path, engine_dtype = "auto", engine_device = "cpu";
};

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// ---------------------------------------------------------------------------------------------
// Statistics

// numpy.percentile's default (linear between closest ranks), as vllm bench serve reports them.
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(rank);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Seconds in, milliseconds out; null where nothing was measured (e.g. TPOT of 1-token outputs).
Json summary_ms(const std::vector<double>& seconds) {
  if (seconds.empty()) return Json{{"count", 0}, {"mean", nullptr}, {"p50", nullptr}, {"p99", nullptr}};
  return Json{{"count", seconds.size()},
              {"mean", mean(seconds) * 1e3},
              {"p50", percentile(seconds, 50) * 1e3},
              {"p99", percentile(seconds, 99) * 1e3}};
}

// ---------------------------------------------------------------------------------------------
// The server's URL

struct ServerUrl {
  std::string host;
  int port = 0;
  std::string text;
};

ServerUrl parse_url(const std::string& url) {
  // Plain HTTP to host:port; the routes are the server's root ones (/v1/..., /tokenize).
  static const std::regex re(R"(^http://([A-Za-z0-9.\-]+):([0-9]{1,5})/?$)");
  std::smatch m;
  if (!std::regex_match(url, m, re)) throw std::invalid_argument("--url must be http://HOST:PORT, got \"" + url + "\"");
  ServerUrl u{m[1], std::stoi(m[2]), url};
  if (u.port < 1 || u.port > 65535) throw std::invalid_argument("--url has an invalid port: " + url);
  return u;
}

// ---------------------------------------------------------------------------------------------
// The server process's cost (--server-pid)

// User + system CPU seconds of `pid` so far: /proc/PID/stat's utime and stime (fields 14 and 15,
// in clock ticks). The command name (field 2) is in parentheses and may hold spaces: the fields
// are counted from its end.
double process_cpu_seconds(int64_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  std::getline(in, stat);
  const size_t name_end = stat.rfind(')');
  if (name_end == std::string::npos) throw std::runtime_error(fmt::format("--server-pid {}: no such process", pid));
  std::istringstream fields(stat.substr(name_end + 1));
  std::string skipped;
  for (int field = 3; field <= 13; ++field) fields >> skipped;
  uint64_t utime = 0, stime = 0;
  if (!(fields >> utime >> stime))
    throw std::runtime_error(fmt::format("/proc/{}/stat: cannot read utime, stime", pid));
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The number on a "Name:   N [kB]" line of /proc/PID/status (0 when absent).
int64_t process_status_number(int64_t pid, std::string_view name) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name, 0) == 0 && line.size() > name.size() && line[name.size()] == ':')
      return std::stoll(line.substr(name.size() + 1));
  return 0;
}

// Resets the process's peak resident size (VmHWM) to its current one (Linux 4.0+: "5" to
// /proc/PID/clear_refs, for a process of the same user); false when it cannot.
bool reset_peak_rss(int64_t pid) {
  std::ofstream out(fmt::format("/proc/{}/clear_refs", pid));
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// A level: `concurrency` clients, each sending its next request when the last one ends
// (server/load_client.h).
using ia::server::load::LevelResult;
using ia::server::load::RequestRecord;

Json level_json(const LevelResult& l) {
  std::vector<double> ttft, tpot, itl, e2e, prompt_tokens;
  // The level's first request against the rest: with a shared system prompt and --warmup 0,
  // the first computes the prompt and a prefix cache serves the others.
  std::optional<double> ttft_first;
  std::vector<double> ttft_later;
  int64_t ok = 0, output_tokens = 0, chunks = 0;
  std::map<std::string, std::vector<double>> errors;  // message -> when each failed (s after sending)
  for (const RequestRecord& r : l.records) {
    if (!r.ok) {
      errors[r.error].push_back(r.e2e_s);
      continue;
    }
    ++ok;
    output_tokens += r.completion_tokens;
    prompt_tokens.push_back(static_cast<double>(r.prompt_tokens));
    chunks += static_cast<int64_t>(r.content_times_s.size());
    ttft.push_back(r.ttft_s);
    if (r.index == 0)
      ttft_first = r.ttft_s;
    else
      ttft_later.push_back(r.ttft_s);
    e2e.push_back(r.e2e_s);
    // TPOT: the decode time per token after the first, from the last text chunk's arrival.
    if (r.completion_tokens > 1)
      tpot.push_back((r.content_times_s.back() - r.ttft_s) / static_cast<double>(r.completion_tokens - 1));
    // ITL: between consecutive text chunks (a chunk may carry several tokens, e.g. when a token
    // ends inside a UTF-8 character or the server sends several deltas at once).
    for (size_t i = 1; i < r.content_times_s.size(); ++i)
      itl.push_back(r.content_times_s[i] - r.content_times_s[i - 1]);
  }
  Json errs = Json::array();
  for (const auto& [message, after] : errors)
    errs.push_back({{"message", message},
                    {"count", after.size()},
                    {"after_s_min", *std::min_element(after.begin(), after.end())},
                    {"after_s_max", *std::max_element(after.begin(), after.end())}});
  const double d = l.duration_s > 0 ? l.duration_s : 1;
  return Json{{"concurrency", l.concurrency},
              {"requests_planned", l.planned},
              {"requests_sent", l.sent},
              {"completed", ok},
              {"errors", l.sent - ok},
              {"error_messages", errs},
              {"duration_s", l.duration_s},
              {"requests_per_s", static_cast<double>(ok) / d},
              {"output_tokens", output_tokens},
              {"output_tokens_per_s", static_cast<double>(output_tokens) / d},
              {"prompt_tokens_mean", prompt_tokens.empty() ? Json(nullptr) : Json(mean(prompt_tokens))},
              {"text_chunks_per_request", ok ? static_cast<double>(chunks) / static_cast<double>(ok) : 0.0},
              {"ttft_ms", summary_ms(ttft)},
              {"ttft_first_request_ms", ttft_first ? Json(*ttft_first * 1e3) : Json()},
              {"ttft_later_requests_ms", summary_ms(ttft_later)},
              {"tpot_ms", summary_ms(tpot)},
              {"itl_ms", summary_ms(itl)},
              {"e2e_ms", summary_ms(e2e)}};
}

std::string ms_cell(const Json& summary, const char* key) {
  return summary[key].is_null() ? "-" : fmt::format("{:.1f}", summary[key].get<double>());
}

void print_server_table(const Json& report) {
  fmt::print("\n{} {} at {}: prompt {} tokens (+ system {}), output {} tokens (ignore_eos), greedy\n",
             report["endpoint"].get<std::string>(), report["model"].get<std::string>(),
             report["url"].get<std::string>(), report["prompt_tokens"].get<int64_t>(),
             report["system_prompt_tokens"].get<int64_t>(), report["output_tokens"].get<int64_t>());
  fmt::print("{:>5} {:>5} {:>4} {:>4} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}\n", "conc", "reqs", "ok",
             "err", "req/s", "out tok/s", "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "ITL p50", "ITL p99",
             "prompt");
  for (const Json& l : report["levels"])
    fmt::print("{:>5} {:>5} {:>4} {:>4} {:>7.2f} {:>9.1f} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}\n",
               l["concurrency"].get<int64_t>(), l["requests_sent"].get<int64_t>(), l["completed"].get<int64_t>(),
               l["errors"].get<int64_t>(), l["requests_per_s"].get<double>(), l["output_tokens_per_s"].get<double>(),
               ms_cell(l["ttft_ms"], "p50"), ms_cell(l["ttft_ms"], "p99"), ms_cell(l["tpot_ms"], "p50"),
               ms_cell(l["tpot_ms"], "p99"), ms_cell(l["itl_ms"], "p50"), ms_cell(l["itl_ms"], "p99"),
               l["prompt_tokens_mean"].is_null() ? "-" : fmt::format("{:.0f}", l["prompt_tokens_mean"].get<double>()));
  fmt::print(
      "(times in ms; TTFT: sent to first text chunk; TPOT: after the first token, per token; ITL: between "
      "text chunks; prompt: mean prompt tokens the server reported)\n");
  if (report["system_prompt_tokens"].get<int64_t>() > 0)
    for (const Json& l : report["levels"])
      fmt::print(
          "  concurrency {}: TTFT of the first request {} ms, of the later ones p50 {} ms\n",
          l["concurrency"].get<int64_t>(),
          l["ttft_first_request_ms"].is_null() ? "-" : fmt::format("{:.1f}", l["ttft_first_request_ms"].get<double>()),
          ms_cell(l["ttft_later_requests_ms"], "p50"));
  for (const Json& l : report["levels"])
    if (const auto p = l.find("server_process"); p != l.end())
      fmt::print(
          "  concurrency {}: server process {}: CPU {:.2f} s (user + system; {} ms per request), peak RSS "
          "{:.1f} MiB (since {})\n",
          l["concurrency"].get<int64_t>(), (*p)["pid"].get<int64_t>(), (*p)["cpu_s"].get<double>(),
          (*p)["cpu_ms_per_request"].is_null() ? "-" : fmt::format("{:.2f}", (*p)["cpu_ms_per_request"].get<double>()),
          (*p)["peak_rss_mib"].get<double>(), (*p)["peak_since"].get<std::string>());
  for (const Json& l : report["levels"])
    for (const Json& e : l["error_messages"])
      fmt::print("  concurrency {}: {} x {} (after {:.1f}-{:.1f} s)\n", l["concurrency"].get<int64_t>(),
                 e["count"].get<int64_t>(), e["message"].get<std::string>(), e["after_s_min"].get<double>(),
                 e["after_s_max"].get<double>());
}

void write_json(const std::string& path, const Json& j) {
  if (path.empty()) return;
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) throw std::runtime_error("cannot write " + path);
}

int run_server_load(const Options& o) {
  namespace load = ia::server::load;
  const ServerUrl url = parse_url(o.url);
  const load::ServerAddress at{url.host, url.port};
  const load::ClientOptions client_options{o.read_timeout_s, o.keep_alive, o.api_key};
  load::LoadClient server(at, client_options);
  std::string model = o.model;
  if (model.empty()) {
    const Json models = server.get("/v1/models");
    if (models.at("data").empty()) throw std::runtime_error("the server serves no model");
    model = models["data"][0].at("id").get<std::string>();
  }
  load::PromptMaker prompts(server, model,
                            {o.endpoint, o.prompt_tokens, o.system_prompt_tokens, o.output_tokens, o.word_prompts});
  uint64_t index = 0;
  // Warm-up: the first request pays page faults of the mmap'd weights and kernel setup.
  for (int64_t i = 0; i < o.warmup; ++i) {
    load::LoadClient client(at, client_options);
    const RequestRecord r = client.send(prompts.make(index++),
                                        Clock::now() + std::chrono::seconds(static_cast<int64_t>(o.level_timeout_s)));
    if (!r.ok) throw std::runtime_error("warm-up request failed: " + r.error);
  }
  Json report{{"tool", "bench_serve_load"},
              {"mode", "server"},
              {"url", url.text},
              {"model", model},
              {"endpoint", o.endpoint},
              {"prompt_tokens", o.prompt_tokens},
              {"system_prompt_tokens", o.system_prompt_tokens},
              {"output_tokens", o.output_tokens},
              {"keep_alive", o.keep_alive},
              {"word_prompts", o.word_prompts},
              {"levels", Json::array()}};
  bool any_error = false;
  for (int64_t c : o.concurrency) {
    const int64_t count = o.requests > 0 ? o.requests : std::max(o.rounds * c, o.min_requests);
    std::vector<load::LoadRequest> level_prompts;  // made before the clock starts (tokenize calls)
    for (int64_t i = 0; i < count; ++i) level_prompts.push_back(prompts.make(index++));
    fmt::print(stderr, "concurrency {}: {} requests\n", c, count);
    const bool peak_reset = o.server_pid > 0 && reset_peak_rss(o.server_pid);
    const double cpu_before = o.server_pid > 0 ? process_cpu_seconds(o.server_pid) : 0;
    Json l = level_json(run_level(at, client_options, c, level_prompts, {o.level_timeout_s, o.duration_s}));
    if (o.server_pid > 0) {
      const double cpu = process_cpu_seconds(o.server_pid) - cpu_before;
      const auto completed = l["completed"].get<int64_t>();
      const auto tokens = l["output_tokens"].get<int64_t>();
      l["server_process"] = {
          {"pid", o.server_pid},
          {"cpu_s", cpu},
          {"cpu_ms_per_request", completed ? Json(cpu * 1e3 / static_cast<double>(completed)) : Json()},
          {"cpu_us_per_output_token", tokens ? Json(cpu * 1e6 / static_cast<double>(tokens)) : Json()},
          {"peak_rss_mib", static_cast<double>(process_status_number(o.server_pid, "VmHWM")) / 1024},
          {"peak_since", peak_reset ? "level start" : "process start"},
          {"threads_after", process_status_number(o.server_pid, "Threads")}};
    }
    any_error |= l["errors"].get<int64_t>() > 0 || l["requests_sent"] != l["requests_planned"];
    report["levels"].push_back(l);
  }
  print_server_table(report);
  write_json(o.json_path, report);
  return any_error ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Engine mode: the same shapes through Generator::generate_ids in this process.

int run_engine(const Options& o) {
  Json server;
  {
    std::ifstream in(o.compare_path);
    if (!in) throw std::invalid_argument("cannot read --compare " + o.compare_path);
    server = Json::parse(in);
  }
  // The server's prompts as it counted them (template and system prompt included).
  std::vector<double> prompt_lengths;
  for (const Json& l : server.at("levels"))
    if (!l["prompt_tokens_mean"].is_null()) prompt_lengths.push_back(l["prompt_tokens_mean"].get<double>());
  if (prompt_lengths.empty()) throw std::invalid_argument("the --compare report has no completed request");
  const auto prompt_len = static_cast<int64_t>(std::lround(mean(prompt_lengths)));
  const int64_t new_tokens = server.at("output_tokens").get<int64_t>();

  std::vector<std::string> warnings;
  const ia::DType dtype = ia::router::resolve_compute_dtype(o.engine_dtype, o.engine_model, warnings);
  for (const auto& w : warnings) fmt::print(stderr, "warning: {}\n", w);
  const auto gen = ia::Generator::load(o.engine_model, ia::choose_device(o.engine_device), dtype);
  const int64_t vocab = gen->model().config().vocab_size;
  ia::GenerationRequest req;
  req.temperature = 0;
  req.ignore_eos = true;
  auto prompts = [&](int64_t batch) {  // random ids past the special tokens <unk> <s> </s>
    std::mt19937 rng(42);
    std::uniform_int_distribution<int32_t> id(3, static_cast<int32_t>(vocab) - 1);
    std::vector<std::vector<int32_t>> out(static_cast<size_t>(batch));
    for (auto& p : out)
      for (int64_t i = 0; i < prompt_len; ++i) p.push_back(id(rng));
    return out;
  };
  req.max_new_tokens = 4;
  gen->generate_ids(prompts(1), req);  // warm-up: page faults, primitive creation
  req.max_new_tokens = new_tokens;

  Json report{{"tool", "bench_serve_load"},  {"mode", "engine"},
              {"model_dir", o.engine_model}, {"prompt_tokens", prompt_len},
              {"output_tokens", new_tokens}, {"levels", Json::array()}};
  fmt::print("\nengine (Generator::generate_ids, in process) vs server, prompt {} tokens, output {} tokens\n",
             prompt_len, new_tokens);
  fmt::print("{:>5} {:>12} {:>12} {:>13} {:>14} {:>14}\n", "batch", "gen tok/s", "decode tok/s", "server tok/s",
             "server/gen", "server/decode");
  for (const Json& sl : server["levels"]) {
    const int64_t batch = sl.at("concurrency").get<int64_t>();
    ia::GenerationStats stats;
    const Clock::time_point t0 = Clock::now();
    gen->generate_ids(prompts(batch), req, {}, &stats);
    const double wall = seconds_between(t0, Clock::now());
    // generate: every output token over prefill + decode (what the server's output tokens/s
    // also includes); decode: the decode steps' tokens over their time (issue 13's target).
    const double gen_rate = static_cast<double>(batch * new_tokens) / wall;
    const double decode_rate =
        stats.decode_ms > 0 ? static_cast<double>(stats.decode_tokens) / (stats.decode_ms / 1e3) : 0.0;
    const double server_rate = sl.at("output_tokens_per_s").get<double>();
    report["levels"].push_back({{"batch", batch},
                                {"wall_s", wall},
                                {"prefill_ms", stats.prefill_ms},
                                {"decode_ms", stats.decode_ms},
                                {"generate_tokens_per_s", gen_rate},
                                {"decode_tokens_per_s", decode_rate},
                                {"server_output_tokens_per_s", server_rate},
                                {"server_over_generate", server_rate / gen_rate},
                                {"server_over_decode", decode_rate > 0 ? Json(server_rate / decode_rate) : Json()}});
    fmt::print("{:>5} {:>12.1f} {:>12.1f} {:>13.1f} {:>13.0f}% {:>13.0f}%\n", batch, gen_rate, decode_rate, server_rate,
               100 * server_rate / gen_rate, decode_rate > 0 ? 100 * server_rate / decode_rate : 0.0);
  }
  write_json(o.json_path, report);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The engine mode computes as the CLI's `serve` does, with its OpenMP wait policy (on a shared
  // machine libgomp's default spinning costs several times the decode rate: core/omp_wait.h).
  ia::reexec_with_cli_omp_wait(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);  // a server that closes a connection must not end the run
  Options o;
  CLI::App app{"Load generator for ipfs-accelerate serve (streamed OpenAI requests at fixed concurrency levels)"};
  app.add_option("--url", o.url, "Server, http://HOST:PORT (e.g. http://127.0.0.1:8080)");
  app.add_option("--model", o.model, "Model name as served (default: the first of /v1/models)");
  app.add_option("--endpoint", o.endpoint, "chat (/v1/chat/completions) | completions (/v1/completions)")
      ->check(CLI::IsMember({"chat", "completions"}))
      ->capture_default_str();
  app.add_option("-c,--concurrency", o.concurrency, "Concurrency levels, run in order")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{1}, int64_t{1024}))
      ->capture_default_str();
  app.add_option("--prompt-tokens", o.prompt_tokens, "Tokens of each request's own prompt text")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  app.add_option("--system-prompt-tokens", o.system_prompt_tokens, "A system prompt shared by all requests (0: none)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20))
      ->capture_default_str();
  app.add_option("--output-tokens", o.output_tokens, "max_tokens of each request (with ignore_eos)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  app.add_option("--requests", o.requests, "Requests per level (0: --rounds x concurrency)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}))
      ->capture_default_str();
  app.add_option("--rounds", o.rounds, "Requests per client per level when --requests is 0")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  app.add_option("--min-requests", o.min_requests, "At least this many requests per level when --requests is 0")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
  app.add_option("--duration", o.duration_s, "Seconds per level after which no request starts (0: no limit)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--level-timeout", o.level_timeout_s, "Seconds per level after which requests are cancelled")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
  app.add_option("--read-timeout", o.read_timeout_s, "Seconds a request may wait for its next bytes")
      ->check(CLI::Range(int64_t{1}, int64_t{3600}))
      ->capture_default_str();
  app.add_option("--warmup", o.warmup, "Unmeasured requests before the first level")
      ->check(CLI::Range(int64_t{0}, int64_t{100}))
      ->capture_default_str();
  app.add_flag("!--no-keep-alive", o.keep_alive, "A new connection per request (default: one per client, kept)");
  app.add_flag("--word-prompts", o.word_prompts,
               "Prompts of --prompt-tokens words, without the server's /tokenize (a gateway to remote models, any "
               "OpenAI-compatible service); usage.prompt_tokens is reported, not checked");
  app.add_option("--server-pid", o.server_pid,
                 "Report this process's CPU seconds and peak RSS per level (/proc; the server's process)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 22));
  app.add_option("--json", o.json_path, "Also write the report as JSON to FILE");
  app.add_option("--engine-model", o.engine_model,
                 "Instead of HTTP: run the --compare report's levels as generate_ids batches on this folder");
  app.add_option("--compare", o.compare_path, "A server report (--json) whose shapes --engine-model runs");
  app.add_option("--engine-dtype", o.engine_dtype, "auto | f32 | bf16, as serve's --dtype")->capture_default_str();
  app.add_option("--engine-device", o.engine_device, "cpu | cuda | cuda:N | auto, as serve's --device")
      ->capture_default_str();
  if (const char* key = std::getenv("OPENAI_API_KEY")) o.api_key = key;
  try {
    app.parse(argc, argv);
    if (o.engine_model.empty() == o.url.empty()) throw CLI::ValidationError("give --url, or --engine-model");
    if (!o.engine_model.empty() && o.compare_path.empty())
      throw CLI::ValidationError("--engine-model needs --compare REPORT.json");
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    return o.engine_model.empty() ? run_server_load(o) : run_engine(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_serve_load: {}\n", e.what());
    return 2;
  }
}
