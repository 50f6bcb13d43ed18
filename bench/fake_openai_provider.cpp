// A loopback fake of an OpenAI-compatible inference service, for the gateway benchmark
// (scripts/bench-gateway.sh): it answers /v1/chat/completions and /v1/completions, whole or
// streamed, in OpenAI's wire format (/work/shared/protocols/openai.md: `data: {json}` events, a
// role chunk first on the chat route, a finish chunk, the usage chunk when
// stream_options.include_usage asks for it, then `data: [DONE]`), with exactly max_tokens
// tokens per answer, one every --token-delay-ms (the first one too, as a prefill would take).
// It is a fake: the text is fixed words, not a model's, and a "token" is a word (usage counts
// the prompt's whitespace-separated words). What it measures is everything around a model: the
// HTTP, the event framing, the gateway's relaying.
//
// One thread per connection (httplib's pool sized by --threads), so a thousand streams are a
// thousand sleeping threads; the listen backlog is raised for the benchmark's bursts.
//
//   fake_openai_provider [--host 127.0.0.1] [--port 0] [--model fake-model] [--token-delay-ms 20]
//                        [--threads 2048] [--api-key KEY]
// prints "fake_openai_provider: listening on http://HOST:PORT" on stdout when it accepts, and
// stops on SIGTERM or SIGINT.
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace {

using Json = nlohmann::json;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string model = "fake-model";
  int token_delay_ms = 20;
  size_t threads = 2048;
  std::string api_key;  // empty: no key needed
};

constexpr int64_t kMaxTokens = 1 << 16;  // a request may not ask for more (400)

// OpenAI's error body (type, message, param, code).
void send_error(httplib::Response& res, int status, const std::string& type, const std::string& message,
                const Json& code = nullptr) {
  res.status = status;
  res.set_content(Json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}}.dump(),
                  "application/json");
}

// The fake's tokenizer: a token is a whitespace-separated word.
int64_t count_words(std::string_view s) {
  int64_t n = 0;
  bool in_word = false;
  for (const char c : s) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

constexpr std::array<std::string_view, 8> kWords = {" river",  " stone",  " light",  " paper",
                                                    " garden", " window", " market", " summer"};

struct Answer {
  bool chat = true;
  std::string id, model;
  int64_t created = 0, prompt_tokens = 0, max_tokens = 16;
  bool include_usage = false;

  Json chunk(Json choice) const {
    return Json{{"id", id},
                {"object", chat ? "chat.completion.chunk" : "text_completion"},
                {"created", created},
                {"model", model},
                {"choices", Json::array({std::move(choice)})}};
  }
  Json usage() const {
    return {{"prompt_tokens", prompt_tokens},
            {"completion_tokens", max_tokens},
            {"total_tokens", prompt_tokens + max_tokens}};
  }
};

// Reads the request into `a`; false: an error was answered.
bool parse_request(const Options& o, const httplib::Request& req, httplib::Response& res, Answer& a) {
  if (!o.api_key.empty() && req.get_header_value("Authorization") != "Bearer " + o.api_key) {
    send_error(res, 401, "invalid_request_error", "Incorrect API key provided.", "invalid_api_key");
    return false;
  }
  const Json j = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    send_error(res, 400, "invalid_request_error", "We could not parse the JSON body of your request.");
    return false;
  }
  const std::string model = j.value("model", "");
  if (model != o.model) {
    send_error(res, 404, "invalid_request_error",
               fmt::format("The model `{}` does not exist or you do not have access to it.", model), "model_not_found");
    return false;
  }
  a.model = model;
  const Json max = j.contains("max_completion_tokens") ? j["max_completion_tokens"] : j.value("max_tokens", Json(16));
  if (!max.is_number_integer() || max.get<int64_t>() < 1 || max.get<int64_t>() > kMaxTokens) {
    send_error(res, 400, "invalid_request_error", fmt::format("max_tokens must be an integer in [1, {}]", kMaxTokens));
    return false;
  }
  a.max_tokens = max.get<int64_t>();
  if (a.chat) {
    const auto m = j.find("messages");
    if (m == j.end() || !m->is_array() || m->empty()) {
      send_error(res, 400, "invalid_request_error", "'messages' must be a non-empty array");
      return false;
    }
    for (const Json& msg : *m)
      if (msg.is_object() && msg.contains("content") && msg["content"].is_string())
        a.prompt_tokens += count_words(msg["content"].get<std::string>());
  } else {
    const auto p = j.find("prompt");
    if (p == j.end() || !p->is_string()) {
      send_error(res, 400, "invalid_request_error", "'prompt' must be a string (this fake takes one text prompt)");
      return false;
    }
    a.prompt_tokens = count_words(p->get<std::string>());
  }
  const auto so = j.find("stream_options");
  a.include_usage = so != j.end() && so->is_object() && so->value("include_usage", false);
  static std::atomic<uint64_t> n{0};
  a.id = fmt::format("{}-fake-{}", a.chat ? "chatcmpl" : "cmpl", n++);
  a.created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return true;
}

// One streamed answer, an event per call of the content provider (sleeping before each token).
class EventStream {
 public:
  EventStream(Answer a, std::chrono::milliseconds delay) : a_(std::move(a)), delay_(delay) {}

  bool step(httplib::DataSink& sink) {
    auto send = [&](const std::string& data) {
      const std::string event = "data: " + data + "\n\n";
      return sink.write(event.data(), event.size());
    };
    if (!opened_) {
      opened_ = true;
      if (a_.chat &&
          !send(
              a_.chunk({{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}})
                  .dump()))
        return false;
    }
    if (sent_ < a_.max_tokens) {
      std::this_thread::sleep_for(delay_);
      const std::string text(kWords[static_cast<size_t>(sent_++) % kWords.size()]);
      return send(a_.chat ? a_.chunk({{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", nullptr}}).dump()
                          : a_.chunk({{"index", 0}, {"text", text}, {"finish_reason", nullptr}}).dump());
    }
    if (!send(a_.chat ? a_.chunk({{"index", 0}, {"delta", Json::object()}, {"finish_reason", "length"}}).dump()
                      : a_.chunk({{"index", 0}, {"text", ""}, {"finish_reason", "length"}}).dump()))
      return false;
    if (a_.include_usage) {
      Json u = a_.chunk({});
      u["choices"] = Json::array();
      u["usage"] = a_.usage();
      if (!send(u.dump())) return false;
    }
    if (!send("[DONE]")) return false;
    sink.done();
    return true;
  }

 private:
  Answer a_;
  std::chrono::milliseconds delay_;
  bool opened_ = false;
  int64_t sent_ = 0;
};

// httplib listens with a backlog of 5: a burst of a thousand connects would overflow it.
class FakeServer : public httplib::Server {
 public:
  bool set_listen_backlog(int backlog) { return svr_sock_ != INVALID_SOCKET && ::listen(svr_sock_, backlog) == 0; }
};

void answer(const Options& o, const httplib::Request& req, httplib::Response& res, bool chat) {
  Answer a;
  a.chat = chat;
  if (!parse_request(o, req, res, a)) return;
  const Json j = Json::parse(req.body);
  const std::chrono::milliseconds delay(o.token_delay_ms);
  if (j.value("stream", false)) {
    auto stream = std::make_shared<EventStream>(std::move(a), delay);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream",
                                     [stream](size_t, httplib::DataSink& sink) { return stream->step(sink); });
    return;
  }
  std::string text;
  for (int64_t i = 0; i < a.max_tokens; ++i) {
    std::this_thread::sleep_for(delay);
    text += kWords[static_cast<size_t>(i) % kWords.size()];
  }
  Json choice{{"index", 0}, {"finish_reason", "length"}, {"logprobs", nullptr}};
  if (chat)
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  else
    choice["text"] = text;
  res.set_content(Json{{"id", a.id},
                       {"object", chat ? "chat.completion" : "text_completion"},
                       {"created", a.created},
                       {"model", a.model},
                       {"choices", Json::array({choice})},
                       {"usage", a.usage()}}
                      .dump(),
                  "application/json");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Loopback fake of an OpenAI-compatible service (fixed words, max_tokens tokens at a fixed rate)"};
  app.add_option("--host", o.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", o.port, "Port (0: any free one)")->check(CLI::Range(0, 65535))->capture_default_str();
  app.add_option("--model", o.model, "The one model it serves")->capture_default_str();
  app.add_option("--token-delay-ms", o.token_delay_ms, "Milliseconds before each token")
      ->check(CLI::Range(0, 60'000))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "Connections served at once (one thread each)")
      ->check(CLI::Range(1, 16384))
      ->capture_default_str();
  app.add_option("--api-key", o.api_key, "Key clients must send as 'Authorization: Bearer KEY'");
  CLI11_PARSE(app, argc, argv);

  // SIGTERM / SIGINT are taken by this thread alone (blocked before any other starts).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  FakeServer http;
  http.new_task_queue = [n = o.threads] { return new httplib::ThreadPool(n); };
  http.set_tcp_nodelay(true);  // each event is a small write: no Nagle delay behind the client's ACK
  http.Get("/v1/models", [&o](const httplib::Request&, httplib::Response& res) {
    res.set_content(
        Json{{"object", "list"},
             {"data", Json::array({{{"id", o.model}, {"object", "model"}, {"created", 0}, {"owned_by", "fake"}}})}}
            .dump(),
        "application/json");
  });
  http.Post("/v1/chat/completions",
            [&o](const httplib::Request& req, httplib::Response& res) { answer(o, req, res, /*chat=*/true); });
  http.Post("/v1/completions",
            [&o](const httplib::Request& req, httplib::Response& res) { answer(o, req, res, /*chat=*/false); });
  const int port = o.port == 0 ? http.bind_to_any_port(o.host) : (http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) {
    std::cerr << "fake_openai_provider: cannot listen on " << o.host << ":" << o.port << "\n";
    return 2;
  }
  if (!http.set_listen_backlog(SOMAXCONN)) std::cerr << "fake_openai_provider: could not raise the listen backlog\n";
  std::thread server([&http] { http.listen_after_bind(); });
  while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::cout << "fake_openai_provider: listening on http://" << o.host << ":" << port << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  http.stop();
  server.join();
  return 0;
}
