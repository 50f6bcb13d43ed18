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
#include <httplib.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/device.h"
#include "core/omp_wait.h"
#include "router/model_placement.h"
#include "runtime/device_selection.h"
#include "runtime/generation.h"

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
// The server: URL, setup calls

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

httplib::Client make_client(const ServerUrl& u, int64_t read_timeout_s, bool keep_alive = true) {
  httplib::Client c(u.host, u.port);
  c.set_connection_timeout(10, 0);
  c.set_read_timeout(static_cast<time_t>(read_timeout_s), 0);
  c.set_write_timeout(30, 0);
  // One connection per client thread, as an SDK's pool keeps them. (A server that does not set
  // TCP_NODELAY then waits for the client's delayed ACK before a stream's first event: ~40 ms.)
  c.set_keep_alive(keep_alive);
  c.set_tcp_nodelay(true);  // as curl and the SDKs: no Nagle delay between the head and body writes
  return c;
}

class SetupFailed : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The few non-streamed calls made before any timing: models, tokenize, detokenize.
class ServerCalls {
 public:
  ServerCalls(const ServerUrl& u, const std::string& api_key) : client_(make_client(u, 60)) {
    if (!api_key.empty()) client_.set_bearer_token_auth(api_key);
  }

  Json get(const std::string& path) { return answer(client_.Get(path.c_str()), path); }
  Json post(const std::string& path, const Json& body) {
    return answer(client_.Post(path.c_str(), body.dump(), "application/json"), path);
  }

 private:
  Json answer(const httplib::Result& r, const std::string& path) {
    if (!r) throw SetupFailed(fmt::format("{}: no answer ({})", path, httplib::to_string(r.error())));
    if (r->status != 200) throw SetupFailed(fmt::format("{}: HTTP {}: {}", path, r->status, r->body.substr(0, 500)));
    return Json::parse(r->body);
  }
  httplib::Client client_;
};

// ---------------------------------------------------------------------------------------------
// Prompts

// Common English words: every tokenizer splits them into few tokens, so N tokens of them read
// like text (a random byte stream would be far from what a server sees).
constexpr std::array<std::string_view, 64> kWords = {
    "the",   "of",     "and",    "to",     "in",     "is",     "that",   "for",   "it",    "as",    "was",
    "with",  "be",     "by",     "on",     "not",    "he",     "this",   "are",   "or",    "his",   "from",
    "at",    "which",  "but",    "have",   "an",     "had",    "they",   "you",   "were",  "their", "one",
    "all",   "we",     "can",    "her",    "has",    "there",  "been",   "if",    "more",  "when",  "will",
    "would", "who",    "so",     "no",     "time",   "river",  "garden", "light", "music", "paper", "stone",
    "water", "window", "market", "summer", "letter", "bridge", "number", "story", "world"};

std::string random_words(uint64_t seed, size_t count) {
  std::mt19937_64 rng(seed);
  std::string text;
  for (size_t i = 0; i < count; ++i) {
    if (i) text += ' ';
    text += kWords[rng() % kWords.size()];
  }
  return text;
}

// Text of exactly `tokens` tokens as the server's tokenizer counts it alone (without special
// tokens): the first `tokens` ids of enough random words, detokenized. In a chat template the
// count can differ by a token at the joins; the request's expected usage is counted in context.
std::string text_of_tokens(ServerCalls& server, const std::string& model, uint64_t seed, int64_t tokens) {
  size_t words = static_cast<size_t>(tokens);  // a word is at least one token
  for (int attempt = 0; attempt < 6; ++attempt, words *= 2) {
    const Json t = server.post(
        "/tokenize", {{"model", model}, {"prompt", random_words(seed, words)}, {"add_special_tokens", false}});
    const auto& ids = t.at("tokens");
    if (static_cast<int64_t>(ids.size()) < tokens) continue;
    Json first = Json::array();
    for (int64_t i = 0; i < tokens; ++i) first.push_back(ids[static_cast<size_t>(i)]);
    return server.post("/detokenize", {{"model", model}, {"tokens", first}}).at("prompt").get<std::string>();
  }
  throw SetupFailed(fmt::format("could not make a prompt of {} tokens", tokens));
}

struct Prompt {
  Json body;                       // the request as it is sent
  int64_t expected_prompt_tokens;  // as /tokenize counts the rendered request; kUncounted: not checked
};
constexpr int64_t kUncounted = -1;

class PromptMaker {
 public:
  PromptMaker(ServerCalls& server, const Options& o, std::string model)
      : server_(server), o_(o), model_(std::move(model)) {
    // One fixed seed: every request of every level shares the same system prompt.
    if (o.system_prompt_tokens > 0) system_ = text(7, o.system_prompt_tokens);
  }

  // The request with index `index` of the whole run (its own words).
  Prompt make(uint64_t index) {
    const std::string user = text(1000 + index, o_.prompt_tokens);
    Json body{{"model", model_},
              {"stream", true},
              {"stream_options", {{"include_usage", true}}},
              {"max_tokens", o_.output_tokens},
              {"ignore_eos", true},
              {"temperature", 0}};
    Json count;
    if (o_.endpoint == "chat") {
      Json messages = Json::array();
      if (!system_.empty()) messages.push_back({{"role", "system"}, {"content", system_}});
      messages.push_back({{"role", "user"}, {"content", user}});
      body["messages"] = messages;
      if (!o_.word_prompts) count = server_.post("/tokenize", {{"model", model_}, {"messages", messages}});
    } else {
      const std::string prompt = system_.empty() ? user : system_ + "\n" + user;
      body["prompt"] = prompt;
      if (!o_.word_prompts) count = server_.post("/tokenize", {{"model", model_}, {"prompt", prompt}});
    }
    return {std::move(body), o_.word_prompts ? kUncounted : count.at("count").get<int64_t>()};
  }

 private:
  std::string text(uint64_t seed, int64_t tokens) {
    return o_.word_prompts ? random_words(seed, static_cast<size_t>(tokens))
                           : text_of_tokens(server_, model_, seed, tokens);
  }

  ServerCalls& server_;
  const Options& o_;
  std::string model_, system_;
};

// ---------------------------------------------------------------------------------------------
// One streamed request

struct RequestRecord {
  int64_t index = 0;  // in the level's send order
  bool ok = false;
  std::string error;
  double ttft_s = 0, e2e_s = 0;
  std::vector<double> content_times_s;  // since the request was sent, one per chunk with text
  int64_t prompt_tokens = 0, completion_tokens = 0;
};

// Server-sent events as they arrive: `data: {json}` events separated by blank lines; comments
// (": keep-alive") are skipped.
class SseReader {
 public:
  SseReader(bool chat, Clock::time_point sent, RequestRecord& r) : chat_(chat), sent_(sent), r_(r) {}

  void feed(const char* data, size_t n) {
    pending_.append(data, n);
    for (size_t end; (end = pending_.find("\n\n")) != std::string::npos;) {
      const std::string event = pending_.substr(0, end);
      pending_.erase(0, end + 2);
      for (size_t at = 0; at < event.size();) {
        size_t nl = event.find('\n', at);
        if (nl == std::string::npos) nl = event.size();
        const std::string_view line(event.data() + at, nl - at);
        if (line.rfind("data: ", 0) == 0) on_data(line.substr(6));
        at = nl + 1;
      }
    }
  }
  bool done() const { return done_; }
  const std::string& error() const { return error_; }
  bool has_usage() const { return has_usage_; }

 private:
  void on_data(std::string_view payload) {
    if (payload == "[DONE]") {
      done_ = true;
      return;
    }
    const Json j = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      if (error_.empty()) error_ = "an event that is not JSON";
      return;
    }
    if (j.contains("error")) {
      if (error_.empty()) error_ = "stream error: " + j["error"].value("message", j["error"].dump());
      return;
    }
    if (const auto u = j.find("usage"); u != j.end() && u->is_object()) {
      has_usage_ = true;
      r_.prompt_tokens = u->value("prompt_tokens", int64_t{0});
      r_.completion_tokens = u->value("completion_tokens", int64_t{0});
    }
    const auto choices = j.find("choices");
    if (choices == j.end() || !choices->is_array() || choices->empty()) return;
    const Json& c = (*choices)[0];
    std::string text;
    if (chat_) {
      if (const auto d = c.find("delta"); d != c.end() && d->is_object()) {
        if (const auto t = d->find("content"); t != d->end() && t->is_string()) text = *t;
      }
    } else if (const auto t = c.find("text"); t != c.end() && t->is_string()) {
      text = *t;
    }
    // The chat stream's opening role chunk has empty content: not a token yet.
    if (!text.empty()) r_.content_times_s.push_back(seconds_between(sent_, Clock::now()));
  }

  bool chat_;
  Clock::time_point sent_;
  RequestRecord& r_;
  std::string pending_, error_;
  bool done_ = false, has_usage_ = false;
};

// An error body as one line of the report: up to `max` bytes, without the trailing newline.
std::string first_line(const std::string& body, size_t max) {
  std::string s = body.substr(0, std::min(body.find('\n'), max));
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

RequestRecord send_request(httplib::Client& client, const Options& o, const Prompt& p, Clock::time_point deadline) {
  RequestRecord r;
  const bool chat = o.endpoint == "chat";
  httplib::Request req;
  req.method = "POST";
  req.path = chat ? "/v1/chat/completions" : "/v1/completions";
  req.body = p.body.dump();
  req.set_header("Content-Type", "application/json");
  if (!o.api_key.empty()) req.set_header("Authorization", "Bearer " + o.api_key);
  const Clock::time_point sent = Clock::now();
  SseReader sse(chat, sent, r);
  int status = 0;
  std::string error_body;
  bool past_deadline = false;
  req.response_handler = [&](const httplib::Response& res) {
    status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (status != 200) {
      if (error_body.size() < 2000) error_body.append(data, std::min<size_t>(n, 2000));
      return true;
    }
    sse.feed(data, n);
    if (Clock::now() > deadline) {  // the level's time limit: cancel (the server frees the sequence)
      past_deadline = true;
      return false;
    }
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool sent_ok = client.send(req, res, err);
  r.e2e_s = seconds_between(sent, Clock::now());
  if (past_deadline)
    r.error = "cancelled at the level's time limit (--level-timeout)";
  else if (!sent_ok && status == 0)
    r.error = "no answer: " + httplib::to_string(err);  // (connect, write or read failed)
  else if (status != 200)
    r.error = fmt::format("HTTP {}: {}", status, first_line(error_body, 300));
  else if (!sse.error().empty())
    r.error = sse.error();
  else if (!sse.done())
    r.error =
        "the stream ended without data: [DONE]" + (sent_ok ? std::string() : " (" + httplib::to_string(err) + ")");
  else if (!sse.has_usage())
    r.error = "no usage in the stream";
  else if (r.completion_tokens != o.output_tokens)
    r.error = fmt::format("usage.completion_tokens {} != max_tokens {}", r.completion_tokens, o.output_tokens);
  else if (p.expected_prompt_tokens != kUncounted && r.prompt_tokens != p.expected_prompt_tokens)
    r.error =
        fmt::format("usage.prompt_tokens {} != {} counted by /tokenize", r.prompt_tokens, p.expected_prompt_tokens);
  else if (r.content_times_s.empty())
    r.error = "no text in the stream";
  else
    r.ok = true;
  if (!r.content_times_s.empty()) r.ttft_s = r.content_times_s.front();
  return r;
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
  if (name_end == std::string::npos) throw SetupFailed(fmt::format("--server-pid {}: no such process", pid));
  std::istringstream fields(stat.substr(name_end + 1));
  std::string skipped;
  for (int field = 3; field <= 13; ++field) fields >> skipped;
  uint64_t utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) throw SetupFailed(fmt::format("/proc/{}/stat: cannot read utime, stime", pid));
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

// ---------------------------------------------------------------------------------------------
// A level: `concurrency` clients, each sending its next request when the last one ends.

struct LevelResult {
  int64_t concurrency = 0, planned = 0, sent = 0;
  double duration_s = 0;
  std::vector<RequestRecord> records;
};

LevelResult run_level(const ServerUrl& url, const Options& o, int64_t concurrency, std::vector<Prompt>& prompts) {
  LevelResult level;
  level.concurrency = concurrency;
  level.planned = static_cast<int64_t>(prompts.size());
  std::atomic<int64_t> next{0};
  std::mutex mu;
  const Clock::time_point start = Clock::now();
  const auto limit = [&](double s) {
    return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const Clock::time_point deadline = limit(o.level_timeout_s);
  const std::optional<Clock::time_point> stop_starting =
      o.duration_s > 0 ? std::optional(limit(o.duration_s)) : std::nullopt;
  Clock::time_point last_end = start;
  std::vector<std::thread> clients;
  for (int64_t c = 0; c < concurrency; ++c) {
    clients.emplace_back([&] {
      httplib::Client client = make_client(url, o.read_timeout_s, o.keep_alive);
      for (;;) {
        const Clock::time_point now = Clock::now();
        if (now > deadline || (stop_starting && now > *stop_starting)) return;
        const int64_t i = next.fetch_add(1);
        if (i >= level.planned) return;
        RequestRecord r = send_request(client, o, prompts[static_cast<size_t>(i)], deadline);
        r.index = i;
        std::lock_guard lock(mu);
        level.records.push_back(std::move(r));
        last_end = std::max(last_end, Clock::now());
      }
    });
  }
  for (auto& t : clients) t.join();
  level.sent = static_cast<int64_t>(level.records.size());
  level.duration_s = seconds_between(start, last_end);
  return level;
}

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
  const ServerUrl url = parse_url(o.url);
  ServerCalls server(url, o.api_key);
  std::string model = o.model;
  if (model.empty()) {
    const Json models = server.get("/v1/models");
    if (models.at("data").empty()) throw SetupFailed("the server serves no model");
    model = models["data"][0].at("id").get<std::string>();
  }
  PromptMaker prompts(server, o, model);
  uint64_t index = 0;
  // Warm-up: the first request pays page faults of the mmap'd weights and kernel setup.
  for (int64_t i = 0; i < o.warmup; ++i) {
    httplib::Client client = make_client(url, o.read_timeout_s, o.keep_alive);
    const RequestRecord r = send_request(client, o, prompts.make(index++),
                                         Clock::now() + std::chrono::seconds(static_cast<int64_t>(o.level_timeout_s)));
    if (!r.ok) throw SetupFailed("warm-up request failed: " + r.error);
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
    std::vector<Prompt> level_prompts;  // made before the clock starts (tokenize calls)
    for (int64_t i = 0; i < count; ++i) level_prompts.push_back(prompts.make(index++));
    fmt::print(stderr, "concurrency {}: {} requests\n", c, count);
    const bool peak_reset = o.server_pid > 0 && reset_peak_rss(o.server_pid);
    const double cpu_before = o.server_pid > 0 ? process_cpu_seconds(o.server_pid) : 0;
    Json l = level_json(run_level(url, o, c, level_prompts));
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
