// The load client: setup calls, prompts of exact lengths, one streamed request timed chunk by
// chunk, and a level of concurrent clients.
#include "server/load_client.h"

#include <httplib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <exception>
#include <latch>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"

namespace ia::server::load {

namespace {

using Json = nlohmann::json;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

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

// An error body as one line: up to `max` bytes, without the trailing newline.
std::string first_line(const std::string& body, size_t max) {
  std::string s = body.substr(0, std::min(body.find('\n'), max));
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// What a whole (not streamed) answer says: an embeddings list's usage, or why it is not one.
std::string read_whole_answer(const std::string& body, RequestRecord& r) {
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return "an answer that is not a JSON object";
  const auto data = j.find("data");
  if (data == j.end() || !data->is_array() || data->empty()) return "an answer without data";
  const auto u = j.find("usage");
  if (u == j.end() || !u->is_object()) return "no usage in the answer";
  r.prompt_tokens = u->value("prompt_tokens", int64_t{0});
  r.completion_tokens = u->value("completion_tokens", int64_t{0});
  return "";
}

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
std::string text_of_tokens(LoadClient& server, const std::string& model, uint64_t seed, int64_t tokens) {
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
  fail(ErrorKind::Unavailable, "could not make a prompt of {} tokens from the server's /tokenize", tokens);
}

}  // namespace

struct LoadClient::Impl {
  Impl(const ServerAddress& at, const ClientOptions& o) : client(at.host, at.port) {
    client.set_connection_timeout(10, 0);
    client.set_read_timeout(static_cast<time_t>(o.read_timeout_s), 0);
    client.set_write_timeout(30, 0);
    // One connection per client, as an SDK's pool keeps them. (A server that does not set
    // TCP_NODELAY then waits for the client's delayed ACK before a stream's first event: ~40 ms.)
    client.set_keep_alive(o.keep_alive);
    client.set_tcp_nodelay(true);  // as curl and the SDKs: no Nagle delay between the head and body writes
    if (!o.api_key.empty()) client.set_bearer_token_auth(o.api_key);
  }
  Json answer(const httplib::Result& r, const std::string& path) {
    if (!r) fail(ErrorKind::Unavailable, "{}: no answer ({})", path, httplib::to_string(r.error()));
    if (r->status != 200) fail(ErrorKind::Unavailable, "{}: HTTP {}: {}", path, r->status, first_line(r->body, 500));
    const Json j = Json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) fail(ErrorKind::Unavailable, "{}: an answer that is not JSON", path);
    return j;
  }
  httplib::Client client;
};

LoadClient::LoadClient(const ServerAddress& at, const ClientOptions& options)
    : impl_(std::make_unique<Impl>(at, options)) {}

LoadClient::~LoadClient() = default;

Json LoadClient::get(const std::string& path) {
  return impl_->answer(impl_->client.Get(path.c_str()), path);
}

Json LoadClient::post(const std::string& path, const Json& body) {
  return impl_->answer(impl_->client.Post(path.c_str(), body.dump(), "application/json"), path);
}

RequestRecord LoadClient::send(const LoadRequest& p, Clock::time_point deadline) {
  RequestRecord r;
  const bool stream = p.body.value("stream", false);
  httplib::Request req;
  req.method = "POST";
  req.path = p.path;
  req.body = p.body.dump();
  req.set_header("Content-Type", "application/json");
  const Clock::time_point sent = Clock::now();
  SseReader sse(p.path == "/v1/chat/completions", sent, r);
  int status = 0;
  std::string body;  // an error's, or a whole answer's
  bool past_deadline = false;
  req.response_handler = [&](const httplib::Response& res) {
    status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (status == 200 && stream)
      sse.feed(data, n);
    else if (status == 200)
      body.append(data, n);
    else if (body.size() < 2000)
      body.append(data, std::min<size_t>(n, 2000));
    if (Clock::now() > deadline) {  // the level's time limit: cancel (the server frees the sequence)
      past_deadline = true;
      return false;
    }
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool sent_ok = impl_->client.send(req, res, err);
  r.e2e_s = seconds_between(sent, Clock::now());
  const std::string whole_error = !stream && status == 200 && sent_ok ? read_whole_answer(body, r) : "";
  if (past_deadline)
    r.error = "cancelled at the level's time limit";
  else if (!sent_ok && status == 0)
    r.error = "no answer: " + httplib::to_string(err);  // (connect, write or read failed)
  else if (status != 200)
    r.error = fmt::format("HTTP {}: {}", status, first_line(body, 300));
  else if (!stream && !sent_ok)
    r.error = "the answer broke off (" + httplib::to_string(err) + ")";
  else if (!whole_error.empty())
    r.error = whole_error;
  else if (stream && !sse.error().empty())
    r.error = sse.error();
  else if (stream && !sse.done())
    r.error =
        "the stream ended without data: [DONE]" + (sent_ok ? std::string() : " (" + httplib::to_string(err) + ")");
  else if (stream && !sse.has_usage())
    r.error = "no usage in the stream";
  else if (p.expected_completion_tokens >= 0 && r.completion_tokens != p.expected_completion_tokens)
    r.error =
        fmt::format("usage.completion_tokens {} != max_tokens {}", r.completion_tokens, p.expected_completion_tokens);
  else if (p.expected_prompt_tokens >= 0 && r.prompt_tokens != p.expected_prompt_tokens)
    r.error =
        fmt::format("usage.prompt_tokens {} != {} counted by /tokenize", r.prompt_tokens, p.expected_prompt_tokens);
  else if (stream && r.content_times_s.empty())
    r.error = "no text in the stream";
  else
    r.ok = true;
  r.ttft_s = r.content_times_s.empty() ? (stream ? 0 : r.e2e_s) : r.content_times_s.front();
  return r;
}

PromptMaker::PromptMaker(LoadClient& setup, std::string model, PromptShape shape)
    : setup_(setup), model_(std::move(model)), shape_(std::move(shape)) {
  // One fixed seed: every request of every level shares the same system prompt.
  if (shape_.system_prompt_tokens > 0 && shape_.endpoint != "embeddings")
    system_ = text(7, shape_.system_prompt_tokens);
}

std::string PromptMaker::text(uint64_t seed, int64_t tokens) {
  return shape_.word_prompts ? random_words(seed, static_cast<size_t>(tokens))
                             : text_of_tokens(setup_, model_, seed, tokens);
}

LoadRequest PromptMaker::make(uint64_t index) {
  const std::string user = text(1000 + index, shape_.prompt_tokens);
  LoadRequest r;
  if (shape_.endpoint == "embeddings") {
    r.path = "/v1/embeddings";
    r.body = Json{{"model", model_}, {"input", user}};
    // The tokenizer's special tokens ([CLS] ... [SEP]) count, as the server's usage counts them.
    if (!shape_.word_prompts)
      r.expected_prompt_tokens =
          setup_.post("/tokenize", {{"model", model_}, {"prompt", user}}).at("count").get<int64_t>();
    return r;
  }
  r.body = Json{{"model", model_},
                {"stream", true},
                {"stream_options", {{"include_usage", true}}},
                {"max_tokens", shape_.output_tokens},
                {"ignore_eos", true},
                {"temperature", 0}};
  r.expected_completion_tokens = shape_.output_tokens;
  Json count;
  if (shape_.endpoint == "chat") {
    r.path = "/v1/chat/completions";
    Json messages = Json::array();
    if (!system_.empty()) messages.push_back({{"role", "system"}, {"content", system_}});
    messages.push_back({{"role", "user"}, {"content", user}});
    r.body["messages"] = messages;
    if (!shape_.word_prompts) count = setup_.post("/tokenize", {{"model", model_}, {"messages", messages}});
  } else {
    r.path = "/v1/completions";
    const std::string prompt = system_.empty() ? user : system_ + "\n" + user;
    r.body["prompt"] = prompt;
    if (!shape_.word_prompts) count = setup_.post("/tokenize", {{"model", model_}, {"prompt", prompt}});
  }
  if (!shape_.word_prompts) r.expected_prompt_tokens = count.at("count").get<int64_t>();
  return r;
}

LevelResult run_level(const ServerAddress& at, const ClientOptions& options, int64_t concurrency,
                      const std::vector<LoadRequest>& requests, const LevelLimits& limits) {
  LevelResult level;
  level.concurrency = concurrency;
  level.planned = static_cast<int64_t>(requests.size());
  std::atomic<int64_t> next{0};
  std::mutex mu;
  // Every client is made and waiting before the clock starts; `go` releases them (and orders the
  // times set below before the clients read them).
  std::latch ready(concurrency), go(1);
  bool abandoned = false;  // a client could not be started: none sends
  Clock::time_point start, deadline, last_end;
  std::optional<Clock::time_point> stop_starting;
  std::vector<std::thread> clients;
  std::exception_ptr failed;
  try {
    for (int64_t c = 0; c < concurrency; ++c) {
      clients.emplace_back([&] {
        LoadClient client(at, options);
        ready.count_down();
        go.wait();
        for (;;) {
          const Clock::time_point now = Clock::now();
          if (abandoned || now > deadline || (stop_starting && now > *stop_starting)) return;
          const int64_t i = next.fetch_add(1);
          if (i >= level.planned) return;
          RequestRecord r = client.send(requests[static_cast<size_t>(i)], deadline);
          r.index = i;
          std::lock_guard lock(mu);
          level.records.push_back(std::move(r));
          last_end = std::max(last_end, Clock::now());
        }
      });
    }
    ready.wait();
  } catch (...) {  // no thread for one more client
    failed = std::current_exception();
    abandoned = true;
    ready.count_down(concurrency - static_cast<int64_t>(clients.size()));
  }
  const auto after = [&](double s) {
    return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  start = Clock::now();
  deadline = after(limits.level_timeout_s);
  if (limits.duration_s > 0) stop_starting = after(limits.duration_s);
  last_end = start;
  go.count_down();
  for (auto& t : clients) t.join();
  if (failed) std::rethrow_exception(failed);
  level.sent = static_cast<int64_t>(level.records.size());
  level.duration_s = seconds_between(start, last_end);
  return level;
}

}  // namespace ia::server::load
