#pragma once
// Protocol fakes of the remote inference services, for tests: each serves its
// service's routes on 127.0.0.1 (a free port) with the auth header, the
// streaming framing, the error bodies and the retry hints that
// /work/shared/protocols (docs/providers.md) documents, and can be scripted to
// fail: an HTTP error with any body and headers (429 + Retry-After, 5xx, 529,
// per-key 401), a stream cut after N deltas, an error event inside a 200
// stream, a slow first byte, a stream that never ends a line. The OpenAI fake also takes
// audio uploads (/audio/transcriptions, /audio/translations; OVMS's /v3 ones too) and checks their
// multipart body: the parts, the file name, the model field, the auth header; with stream=true
// it answers with transcript.text.delta / .done events (whisper-1 ignores stream, as OpenAI's does). They are fakes:
// the answers are fixed text ("Hello world"), not a model's.
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace ia::test {

enum class FakeProtocol { OpenAI, Anthropic, Ollama, Gemini, TGI, TEI, OPEA };

struct FakeStep {
  enum Kind { Ok, HttpError, CutStream, ErrorInStream, SlowFirstByte, EndlessLine } kind = Ok;
  FakeStep() = default;
  FakeStep(Kind k, int s = 200, std::string b = {}) : kind(k), status(s), body(std::move(b)) {}
  int status = 200;
  std::string body;  // HttpError: the body (empty: the protocol's error body for `status`)
  std::map<std::string, std::string> headers;
  int after_deltas = 1;    // CutStream / ErrorInStream: deltas sent first
  int delay_ms = 0;        // SlowFirstByte
  std::string error_type;  // ErrorInStream / HttpError default body: the protocol's error type
};

// One part of a multipart/form-data upload as the fake received it.
struct RecordedPart {
  std::string name, filename, content_type, content;
};

struct RecordedRequest {
  std::string method, path, body;
  httplib::Headers headers;
  std::vector<RecordedPart> parts;  // a multipart upload's, in the order received
  const RecordedPart* part(const std::string& name) const {
    for (const auto& p : parts)
      if (p.name == name) return &p;
    return nullptr;
  }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

class FakeProvider {
 public:
  // The answer every Ok step gives, in pieces when streamed.
  static inline const std::vector<std::string> kDeltas = {"Hel", "lo", " world"};
  static std::string answer_text() { return "Hello world"; }

  explicit FakeProvider(FakeProtocol p, std::set<std::string> valid_keys = {})
      : protocol_(p), keys_(std::move(valid_keys)) {
    routes();
    // One request per connection: a client's idle keep-alive connection would hold stop() for
    // the server's keep-alive timeout (5 s) in every test.
    http_.set_keep_alive_max_count(1);
    port_ = http_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeProvider() {
    stopping_ = true;
    http_.stop();
    thread_.join();
  }
  FakeProvider(const FakeProvider&) = delete;
  FakeProvider& operator=(const FakeProvider&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The base URL a client is configured with (OpenAI's includes /v1).
  std::string base_url() const {
    switch (protocol_) {
      case FakeProtocol::OpenAI: return url() + "/v1";
      case FakeProtocol::Gemini: return url() + "/v1beta";
      default: return url();
    }
  }

  void script(std::vector<FakeStep> steps) {
    std::lock_guard lock(mu_);
    for (auto& s : steps) script_.push_back(std::move(s));
  }
  void fail_always(FakeStep step) {
    std::lock_guard lock(mu_);
    always_ = step;
    has_always_ = true;
  }
  void heal() {
    std::lock_guard lock(mu_);
    has_always_ = false;
    script_.clear();
  }
  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  size_t request_count() const {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  // Requests to generation / embedding routes only (not health or model lists).
  size_t call_count() const {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& r : requests_)
      if (r.method == "POST") ++n;
    return n;
  }

 private:
  FakeStep next_step() {
    std::lock_guard lock(mu_);
    if (!script_.empty()) {
      FakeStep s = script_.front();
      script_.pop_front();
      return s;
    }
    if (has_always_) return always_;
    return {};
  }

  void record(const httplib::Request& req) {
    std::lock_guard lock(mu_);
    RecordedRequest r{req.method, req.path, req.body, req.headers, {}};
    for (const auto& [name, f] : req.files) r.parts.push_back({f.name, f.filename, f.content_type, f.content});
    requests_.push_back(std::move(r));
  }

  // ---- per-protocol wire format ------------------------------------------------------------
  std::string error_body(int status, const std::string& type_hint) const {
    const std::string msg = "fake error " + std::to_string(status);
    switch (protocol_) {
      case FakeProtocol::OpenAI: {
        std::string type = type_hint.empty() ? (status == 429   ? "requests"
                                                : status == 401 ? "invalid_request_error"
                                                : status >= 500 ? "server_error"
                                                                : "invalid_request_error")
                                             : type_hint;
        nlohmann::json code = status == 429   ? nlohmann::json(type_hint == "insufficient_quota" ? "insufficient_quota"
                                                                                                 : "rate_limit_exceeded")
                              : status == 401 ? nlohmann::json("invalid_api_key")
                                              : nlohmann::json(nullptr);
        return nlohmann::json{{"error", {{"message", msg}, {"type", type}, {"param", nullptr}, {"code", code}}}}.dump();
      }
      case FakeProtocol::Anthropic: {
        std::string type = type_hint;
        if (type.empty())
          type = status == 401   ? "authentication_error"
                 : status == 429 ? "rate_limit_error"
                 : status == 529 ? "overloaded_error"
                 : status == 404 ? "not_found_error"
                 : status >= 500 ? "api_error"
                                 : "invalid_request_error";
        return nlohmann::json{
            {"type", "error"}, {"error", {{"type", type}, {"message", msg}}}, {"request_id", "req_fake"}}
            .dump();
      }
      case FakeProtocol::Gemini: {
        std::string st = status == 429   ? "RESOURCE_EXHAUSTED"
                         : status == 404 ? "NOT_FOUND"
                         : status == 403 ? "PERMISSION_DENIED"
                         : status >= 500 ? "UNAVAILABLE"
                                         : "INVALID_ARGUMENT";
        return nlohmann::json{{"error", {{"code", status}, {"message", msg}, {"status", st}}}}.dump();
      }
      case FakeProtocol::TGI:
      case FakeProtocol::TEI: {
        std::string type = type_hint.empty()
                               ? (status == 429   ? (protocol_ == FakeProtocol::TEI ? "Overloaded" : "overloaded")
                                  : status == 422 ? (protocol_ == FakeProtocol::TEI ? "Validation" : "validation")
                                                  : "backend")
                               : type_hint;
        return nlohmann::json{{"error", msg}, {"error_type", type}}.dump();
      }
      case FakeProtocol::OPEA:
        return status == 422 ? R"({"detail":[{"loc":["body"],"msg":"field required","type":"missing"}]})"
                             : "Internal Server Error";
      case FakeProtocol::Ollama: return nlohmann::json{{"error", msg}}.dump();
    }
    return "{}";
  }

  bool authorized(const httplib::Request& req) const {
    if (keys_.empty()) return true;
    std::string key;
    if (protocol_ == FakeProtocol::Anthropic) {
      if (req.get_header_value("anthropic-version").empty()) return false;
      key = req.get_header_value("x-api-key");
    } else if (protocol_ == FakeProtocol::Gemini) {
      key = req.get_header_value("x-goog-api-key");
    } else {
      const std::string auth = req.get_header_value("Authorization");
      if (auth.rfind("Bearer ", 0) == 0) key = auth.substr(7);
    }
    return keys_.count(key) > 0;
  }

  void send_error(httplib::Response& res, const FakeStep& s) {
    res.status = s.status;
    for (const auto& [k, v] : s.headers) res.set_header(k, v);
    res.set_content(s.body.empty() ? error_body(s.status, s.error_type) : s.body, "application/json");
  }

  // Events of a streamed answer in the protocol's framing: every delta's text, then the end.
  std::vector<std::string> stream_events(const std::string& model, bool chat, bool usage) const {
    std::vector<std::string> ev;
    switch (protocol_) {
      case FakeProtocol::OpenAI: {
        auto chunk = [&](nlohmann::json choice) {
          return "data: " +
                 nlohmann::json{{"id", "chatcmpl-fake"},
                                {"object", chat ? "chat.completion.chunk" : "text_completion"},
                                {"created", 1},
                                {"model", model},
                                {"choices", nlohmann::json::array({choice})}}
                     .dump() +
                 "\n\n";
        };
        if (chat)
          ev.push_back(
              chunk({{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}}));
        for (const auto& d : kDeltas)
          ev.push_back(chat ? chunk({{"index", 0}, {"delta", {{"content", d}}}, {"finish_reason", nullptr}})
                            : chunk({{"index", 0}, {"text", d}, {"finish_reason", nullptr}}));
        ev.push_back(chat ? chunk({{"index", 0}, {"delta", nlohmann::json::object()}, {"finish_reason", "stop"}})
                          : chunk({{"index", 0}, {"text", ""}, {"finish_reason", "stop"}}));
        if (usage)
          ev.push_back("data: " +
                       nlohmann::json{{"id", "chatcmpl-fake"},
                                      {"object", "chat.completion.chunk"},
                                      {"created", 1},
                                      {"model", model},
                                      {"choices", nlohmann::json::array()},
                                      {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 3}, {"total_tokens", 8}}}}
                           .dump() +
                       "\n\n");
        ev.push_back("data: [DONE]\n\n");
        break;
      }
      case FakeProtocol::Anthropic: {
        auto event = [](const std::string& name, const nlohmann::json& data) {
          return "event: " + name + "\ndata: " + data.dump() + "\n\n";
        };
        ev.push_back(event("message_start", {{"type", "message_start"},
                                             {"message",
                                              {{"id", "msg_fake"},
                                               {"type", "message"},
                                               {"role", "assistant"},
                                               {"content", nlohmann::json::array()},
                                               {"model", model},
                                               {"stop_reason", nullptr},
                                               {"stop_sequence", nullptr},
                                               {"usage", {{"input_tokens", 5}, {"output_tokens", 1}}}}}}));
        ev.push_back(event(
            "content_block_start",
            {{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}}));
        ev.push_back(event("ping", {{"type", "ping"}}));
        for (const auto& d : kDeltas)
          ev.push_back(
              event("content_block_delta",
                    {{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "text_delta"}, {"text", d}}}}));
        ev.push_back(event("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}}));
        ev.push_back(event("message_delta", {{"type", "message_delta"},
                                             {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                                             {"usage", {{"output_tokens", 3}}}}));
        ev.push_back(event("message_stop", {{"type", "message_stop"}}));
        break;
      }
      case FakeProtocol::Ollama: {
        for (const auto& d : kDeltas) {
          nlohmann::json j{{"model", model}, {"created_at", "2025-10-26T17:15:24.097767Z"}, {"done", false}};
          if (chat)
            j["message"] = {{"role", "assistant"}, {"content", d}};
          else
            j["response"] = d;
          ev.push_back(j.dump() + "\n");
        }
        nlohmann::json last{{"model", model},
                            {"created_at", "2025-10-26T17:15:24.166576Z"},
                            {"done", true},
                            {"done_reason", "stop"},
                            {"total_duration", 4883583458LL},
                            {"prompt_eval_count", 5},
                            {"eval_count", 3},
                            {"eval_duration", 4535599000LL}};
        if (chat)
          last["message"] = {{"role", "assistant"}, {"content", ""}};
        else
          last["response"] = "";
        ev.push_back(last.dump() + "\n");
        break;
      }
      case FakeProtocol::Gemini: {
        for (size_t i = 0; i < kDeltas.size(); ++i) {
          nlohmann::json c{{"content", {{"role", "model"}, {"parts", {{{"text", kDeltas[i]}}}}}}, {"index", 0}};
          nlohmann::json j{{"candidates", {c}}, {"modelVersion", model}};
          if (i + 1 == kDeltas.size()) {
            j["candidates"][0]["finishReason"] = "STOP";
            j["usageMetadata"] = {{"promptTokenCount", 5}, {"candidatesTokenCount", 3}, {"totalTokenCount", 8}};
          }
          ev.push_back("data: " + j.dump() + "\r\n\r\n");
        }
        break;
      }
      case FakeProtocol::TGI: {  // /generate_stream: "data:" without a space; the last event has generated_text
        for (size_t i = 0; i < kDeltas.size(); ++i) {
          const bool last = i + 1 == kDeltas.size();
          nlohmann::json j{{"index", i + 1},
                           {"token", {{"id", 100 + i}, {"text", kDeltas[i]}, {"logprob", -0.5}, {"special", false}}},
                           {"generated_text", last ? nlohmann::json(answer_text()) : nlohmann::json(nullptr)},
                           {"details", last ? nlohmann::json{{"finish_reason", "eos_token"},
                                                             {"generated_tokens", 3},
                                                             {"input_length", 5},
                                                             {"seed", nullptr}}
                                            : nlohmann::json(nullptr)}};
          ev.push_back("data:" + j.dump() + "\n\n");
        }
        break;
      }
      case FakeProtocol::OPEA: {
        ev.push_back("data: b'Hel'\n\n");
        ev.push_back("data: b'lo'\n\n");
        ev.push_back("data: b' world'\n\n");
        ev.push_back("data: [DONE]\n\n");
        break;
      }
      case FakeProtocol::TEI: break;
    }
    return ev;
  }

  // How many leading events carry no text yet (OpenAI's role chunk, Anthropic's starts).
  size_t preamble_events(bool chat) const {
    switch (protocol_) {
      case FakeProtocol::OpenAI: return chat ? 1 : 0;
      case FakeProtocol::Anthropic: return 3;
      default: return 0;
    }
  }

  std::string error_event(const std::string& type) const {
    switch (protocol_) {
      case FakeProtocol::OpenAI:
        return "data: " +
               nlohmann::json{{"error",
                               {{"message", "fake failure mid-stream"},
                                {"type", type.empty() ? "server_error" : type},
                                {"param", nullptr},
                                {"code", nullptr}}}}
                   .dump() +
               "\n\n";
      case FakeProtocol::Anthropic:
        return "event: error\ndata: " +
               nlohmann::json{
                   {"type", "error"},
                   {"error", {{"type", type.empty() ? "overloaded_error" : type}, {"message", "Overloaded"}}}}
                   .dump() +
               "\n\n";
      case FakeProtocol::Ollama:
        return R"({"error":"an error was encountered while running the model"})"
               "\n";
      case FakeProtocol::TGI:
        return "data:" +
               nlohmann::json{{"error", "Request failed during generation"},
                              {"error_type", type.empty() ? "generation" : type}}
                   .dump() +
               "\n\n";
      case FakeProtocol::Gemini:
        return "data: " +
               nlohmann::json{{"error", {{"code", 503}, {"message", "overloaded"}, {"status", "UNAVAILABLE"}}}}.dump() +
               "\n\n";
      default: return "";
    }
  }

  std::string whole_answer(const std::string& model, bool chat) const {
    switch (protocol_) {
      case FakeProtocol::OpenAI: {
        nlohmann::json choice{{"index", 0}, {"finish_reason", "stop"}, {"logprobs", nullptr}};
        if (chat)
          choice["message"] = {{"role", "assistant"}, {"content", answer_text()}, {"refusal", nullptr}};
        else
          choice["text"] = answer_text();
        return nlohmann::json{
            {"id", "chatcmpl-fake"}, {"object", chat ? "chat.completion" : "text_completion"},
            {"created", 1},          {"model", model},
            {"choices", {choice}},   {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 3}, {"total_tokens", 8}}}}
            .dump();
      }
      case FakeProtocol::Anthropic:
        return nlohmann::json{{"id", "msg_fake"},
                              {"type", "message"},
                              {"role", "assistant"},
                              {"model", model},
                              {"content", {{{"type", "text"}, {"text", answer_text()}}}},
                              {"stop_reason", "end_turn"},
                              {"stop_sequence", nullptr},
                              {"usage", {{"input_tokens", 5}, {"output_tokens", 3}}}}
            .dump();
      case FakeProtocol::Ollama: {
        nlohmann::json j{{"model", model},         {"created_at", "2023-12-12T14:13:43.416799Z"},
                         {"done", true},           {"done_reason", "stop"},
                         {"prompt_eval_count", 5}, {"eval_count", 3}};
        if (chat)
          j["message"] = {{"role", "assistant"}, {"content", answer_text()}};
        else
          j["response"] = answer_text();
        return j.dump();
      }
      case FakeProtocol::Gemini:
        return nlohmann::json{
            {"candidates",
             {{{"content", {{"role", "model"}, {"parts", {{{"text", answer_text()}}}}}},
               {"finishReason", "STOP"},
               {"index", 0}}}},
            {"usageMetadata", {{"promptTokenCount", 5}, {"candidatesTokenCount", 3}, {"totalTokenCount", 8}}},
            {"modelVersion", model}}
            .dump();
      case FakeProtocol::TGI:
        return nlohmann::json{{"generated_text", answer_text()},
                              {"details",
                               {{"finish_reason", "length"},
                                {"generated_tokens", 3},
                                {"prefill", nlohmann::json::array()},
                                {"tokens", nlohmann::json::array()}}}}
            .dump();
      case FakeProtocol::OPEA:
        return nlohmann::json{{"id", "chatcmpl-4mHPdKQvWq"},
                              {"object", "chat.completion"},
                              {"created", 1},
                              {"model", "chatqna"},
                              {"choices",
                               {{{"index", 0},
                                 {"message", {{"role", "assistant"}, {"content", answer_text()}}},
                                 {"finish_reason", "stop"}}}},
                              {"usage", {{"prompt_tokens", 0}, {"total_tokens", 0}, {"completion_tokens", 0}}}}
            .dump();
      case FakeProtocol::TEI: return "{}";
    }
    return "{}";
  }

  // A fixed, input-dependent vector: [length, index, 0.5].
  static std::vector<float> fake_vector(const std::string& input, size_t index) {
    return {static_cast<float>(input.size()), static_cast<float>(index), 0.5f};
  }

  void answer(const httplib::Request& req, httplib::Response& res, bool chat, bool streaming,
              const std::string& model) {
    FakeStep s = next_step();
    if (s.kind == FakeStep::SlowFirstByte) std::this_thread::sleep_for(std::chrono::milliseconds(s.delay_ms));
    if (s.kind == FakeStep::HttpError) return send_error(res, s);
    if (!authorized(req)) {
      FakeStep e;
      e.status = 401;
      return send_error(res, e);
    }
    const std::string ctype = protocol_ == FakeProtocol::Ollama ? "application/x-ndjson" : "text/event-stream";
    if (!streaming && s.kind != FakeStep::EndlessLine) {
      res.set_content(whole_answer(model, chat), "application/json");
      return;
    }
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    const bool usage = j.is_object() && j.contains("stream_options");
    auto events = std::make_shared<std::vector<std::string>>(stream_events(model, chat, usage));
    if (s.kind == FakeStep::CutStream || s.kind == FakeStep::ErrorInStream) {
      const size_t keep = std::min(events->size(), preamble_events(chat) + static_cast<size_t>(s.after_deltas));
      events->resize(keep);
      if (s.kind == FakeStep::ErrorInStream) events->push_back(error_event(s.error_type));
    }
    const bool cut = s.kind == FakeStep::CutStream;
    const bool endless = s.kind == FakeStep::EndlessLine;
    auto i = std::make_shared<size_t>(0);
    res.set_chunked_content_provider(ctype, [this, events, i, cut, endless](size_t, httplib::DataSink& sink) {
      if (stopping_) return false;
      if (endless) {  // one line that never ends: a client must give up at its bound
        static const std::string block(64 * 1024, 'a');
        const std::string head = *i == 0 ? std::string("data: ") : std::string();
        ++*i;
        return sink.write((head + block).data(), head.size() + block.size());
      }
      if (*i < events->size()) {
        const std::string& e = (*events)[(*i)++];
        return sink.write(e.data(), e.size());
      }
      if (cut) return false;  // close without the end marker (and without the last chunk)
      sink.done();
      return true;
    });
  }

  static std::string model_of(const httplib::Request& req, const std::string& dflt) {
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (j.is_object() && j.contains("model") && j["model"].is_string()) return j["model"];
    return dflt;
  }

  static bool stream_flag(const httplib::Request& req, bool dflt) {
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (j.is_object() && j.contains("stream") && j["stream"].is_boolean()) return j["stream"];
    return dflt;
  }

  void routes() {
    auto rec = [this](auto f) {
      return [this, f](const httplib::Request& req, httplib::Response& res) {
        record(req);
        f(req, res);
      };
    };
    auto models_list = [this](const httplib::Request& req, httplib::Response& res) {
      FakeStep s = next_step();
      if (s.kind == FakeStep::HttpError) return send_error(res, s);
      if (!authorized(req)) {
        FakeStep e;
        e.status = 401;
        return send_error(res, e);
      }
      switch (protocol_) {
        case FakeProtocol::Anthropic:
          res.set_content(
              R"({"data":[{"type":"model","id":"claude-fake","display_name":"Claude Fake","created_at":"2025-09-29T00:00:00Z"}],"has_more":false,"first_id":"claude-fake","last_id":"claude-fake"})",
              "application/json");
          break;
        case FakeProtocol::Ollama:
          res.set_content(
              R"({"models":[{"name":"llama-fake:latest","model":"llama-fake:latest","size":1,"digest":"ab"}]})",
              "application/json");
          break;
        case FakeProtocol::Gemini:
          res.set_content(
              R"({"models":[{"name":"models/gemini-fake","displayName":"Gemini Fake","supportedGenerationMethods":["generateContent"]}]})",
              "application/json");
          break;
        default:
          res.set_content(
              R"({"object":"list","data":[{"id":"fake-model","object":"model","created":1,"owned_by":"fake"}]})",
              "application/json");
      }
    };
    switch (protocol_) {
      case FakeProtocol::OpenAI:
        http_.Post("/v1/chat/completions", rec([this](const auto& req, auto& res) {
                     answer(req, res, true, stream_flag(req, false), model_of(req, ""));
                   }));
        http_.Post("/v1/completions", rec([this](const auto& req, auto& res) {
                     answer(req, res, false, stream_flag(req, false), model_of(req, ""));
                   }));
        http_.Post("/v1/embeddings", rec([this](const auto& req, auto& res) { embeddings_openai(req, res); }));
        http_.Post("/v1/audio/transcriptions",
                   rec([this](const auto& req, auto& res) { transcription_openai(req, res, false); }));
        http_.Post("/v1/audio/translations",
                   rec([this](const auto& req, auto& res) { transcription_openai(req, res, true); }));
        // OVMS serves the same API under /v3 (2025.4+).
        http_.Post("/v3/audio/transcriptions",
                   rec([this](const auto& req, auto& res) { transcription_openai(req, res, false); }));
        http_.Post("/v3/audio/translations",
                   rec([this](const auto& req, auto& res) { transcription_openai(req, res, true); }));
        http_.Get("/v1/models", rec(models_list));
        break;
      case FakeProtocol::Anthropic:
        http_.Post("/v1/messages", rec([this](const auto& req, auto& res) {
                     answer(req, res, true, stream_flag(req, false), model_of(req, ""));
                   }));
        http_.Get("/v1/models", rec(models_list));
        break;
      case FakeProtocol::Ollama:
        http_.Post("/api/chat", rec([this](const auto& req, auto& res) {
                     answer(req, res, true, stream_flag(req, true), model_of(req, ""));
                   }));
        http_.Post("/api/generate", rec([this](const auto& req, auto& res) {
                     answer(req, res, false, stream_flag(req, true), model_of(req, ""));
                   }));
        http_.Post("/api/embed", rec([this](const auto& req, auto& res) { embeddings_ollama(req, res); }));
        http_.Get("/api/tags", rec(models_list));
        http_.Get("/api/version",
                  rec([](const auto&, auto& res) { res.set_content(R"({"version":"0.12.6"})", "application/json"); }));
        break;
      case FakeProtocol::Gemini:
        http_.Post(R"(/v1beta/models/([^:/]+):generateContent)",
                   rec([this](const auto& req, auto& res) { answer(req, res, true, false, req.matches[1]); }));
        http_.Post(R"(/v1beta/models/([^:/]+):streamGenerateContent)", rec([this](const auto& req, auto& res) {
                     if (req.get_param_value("alt") != "sse") {
                       res.status = 400;
                       return;
                     }
                     answer(req, res, true, true, req.matches[1]);
                   }));
        http_.Post(R"(/v1beta/models/([^:/]+):batchEmbedContents)",
                   rec([this](const auto& req, auto& res) { embeddings_gemini(req, res); }));
        http_.Get("/v1beta/models", rec(models_list));
        break;
      case FakeProtocol::TGI:
        http_.Post("/generate", rec([this](const auto& req, auto& res) { answer(req, res, false, false, "tgi"); }));
        http_.Post("/generate_stream",
                   rec([this](const auto& req, auto& res) { answer(req, res, false, true, "tgi"); }));
        http_.Get("/health", rec([](const auto&, auto& res) { res.status = 200; }));
        http_.Get("/info", rec([](const auto&, auto& res) {
                    res.set_content(R"({"model_id":"fake/tgi","max_total_tokens":4096})", "application/json");
                  }));
        break;
      case FakeProtocol::TEI:
        http_.Post("/embed", rec([this](const auto& req, auto& res) { embeddings_tei(req, res); }));
        http_.Post("/rerank", rec([this](const auto& req, auto& res) { rerank_tei(req, res); }));
        http_.Get("/health", rec([](const auto&, auto& res) { res.status = 200; }));
        http_.Get(
            "/info", rec([](const auto&, auto& res) {
              res.set_content(
                  R"({"model_id":"fake/tei","model_type":{"embedding":{"pooling":"cls"}},"max_client_batch_size":2})",
                  "application/json");
            }));
        break;
      case FakeProtocol::OPEA:
        http_.Post("/v1/chatqna", rec([this](const auto& req, auto& res) {
                     answer(req, res, true, stream_flag(req, true), "chatqna");
                   }));
        http_.Get(
            "/v1/health_check", rec([](const auto&, auto& res) {
              res.set_content(
                  R"({"Service Title":"opea_service@chatqna","Service Description":"OPEA Microservice Infrastructure"})",
                  "application/json");
            }));
        break;
    }
  }

  bool embed_guard(const httplib::Request& req, httplib::Response& res) {
    FakeStep s = next_step();
    if (s.kind == FakeStep::HttpError) {
      send_error(res, s);
      return false;
    }
    if (!authorized(req)) {
      FakeStep e;
      e.status = 401;
      send_error(res, e);
      return false;
    }
    return true;
  }

  static std::vector<std::string> inputs_of(const nlohmann::json& v) {
    std::vector<std::string> out;
    if (v.is_string()) out.push_back(v);
    if (v.is_array())
      for (const auto& x : v)
        if (x.is_string()) out.push_back(x);
    return out;
  }

  void embeddings_openai(const httplib::Request& req, httplib::Response& res) {
    if (!embed_guard(req, res)) return;
    auto j = nlohmann::json::parse(req.body);
    auto inputs = inputs_of(j["input"]);
    nlohmann::json data = nlohmann::json::array();
    for (size_t i = 0; i < inputs.size(); ++i)
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", fake_vector(inputs[i], i)}});
    res.set_content(nlohmann::json{{"object", "list"},
                                   {"data", data},
                                   {"model", j.value("model", "")},
                                   {"usage", {{"prompt_tokens", 4}, {"total_tokens", 4}}}}
                        .dump(),
                    "application/json");
  }
  // The segments every transcription answers with (and their text joined: answer_text()).
  struct FakeSegment {
    double start, end;
    const char* text;
  };
  static inline const std::vector<FakeSegment> kSegments = {{0.0, 0.96, " Hello"}, {0.96, 2.5, " world"}};
  static constexpr double kAudioSeconds = 2.5;

  // OpenAI's /audio/transcriptions and /audio/translations: a multipart/form-data upload with
  // `file` (a file part: filename and bytes) and `model`, the optional fields the API documents
  // and nothing else; a request that is not that is a 400 naming what is wrong, as the API says.
  void transcription_openai(const httplib::Request& req, httplib::Response& res, bool translation) {
    FakeStep s = next_step();
    if (s.kind == FakeStep::HttpError) return send_error(res, s);
    if (!authorized(req)) {
      FakeStep e;
      e.status = 401;
      return send_error(res, e);
    }
    auto refuse = [&](const std::string& message) {
      res.status = 400;
      res.set_content(
          nlohmann::json{
              {"error",
               {{"message", message}, {"type", "invalid_request_error"}, {"param", nullptr}, {"code", nullptr}}}}
              .dump(),
          "application/json");
    };
    const std::string ctype = req.get_header_value("Content-Type");
    if (ctype.rfind("multipart/form-data; boundary=", 0) != 0 || !req.is_multipart_form_data())
      return refuse("expected a multipart/form-data body, got Content-Type `" + ctype + "`");
    std::set<std::string> allowed = {"file", "model", "prompt", "response_format", "temperature"};
    if (!translation) allowed.insert({"language", "timestamp_granularities[]", "stream"});
    for (const auto& [name, f] : req.files) {
      if (!allowed.count(name)) return refuse("Unrecognized request argument supplied: " + name);
      if (name != "file" && !f.filename.empty()) return refuse("`" + name + "` must be a field, not a file");
    }
    auto file = req.files.find("file");
    if (file == req.files.end() || file->second.filename.empty())
      return refuse("you must provide a file part with a filename");
    if (file->second.content.empty()) return refuse("the audio file is empty");
    auto model = req.files.find("model");
    if (model == req.files.end() || model->second.content.empty()) return refuse("you must provide a model parameter");
    if (req.files.count("file") != 1 || req.files.count("model") != 1) return refuse("file and model are sent once");
    std::string format = "json";
    if (auto f = req.files.find("response_format"); f != req.files.end()) format = f->second.content;
    if (auto t = req.files.find("temperature"); t != req.files.end()) {
      char* end = nullptr;
      const double v = std::strtod(t->second.content.c_str(), &end);
      if (*end != '\0' || v < 0 || v > 1) return refuse("temperature must be a number between 0 and 1");
    }
    bool stream = false;
    if (auto st = req.files.find("stream"); st != req.files.end()) {
      if (st->second.content != "true" && st->second.content != "false") return refuse("stream must be a boolean");
      stream = st->second.content == "true";
    }
    // "Streaming is not supported for the whisper-1 model and will be ignored" (OpenAI's reference).
    if (stream && model->second.content != "whisper-1") {
      if (format != "json" && format != "text")
        return refuse("response_format '" + format + "' is not supported for streaming (json or text)");
      return stream_transcript(res, s);
    }
    auto clock = [](double t, char sep) {
      const auto ms = static_cast<int64_t>(t * 1000 + 0.5);
      char buf[32];
      std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld%c%03lld", static_cast<long long>(ms / 3600000),
                    static_cast<long long>(ms / 60000 % 60), static_cast<long long>(ms / 1000 % 60), sep,
                    static_cast<long long>(ms % 1000));
      return std::string(buf);
    };
    if (format == "text") return res.set_content(answer_text() + "\n", "text/plain; charset=utf-8");
    if (format == "srt" || format == "vtt") {
      std::string out = format == "vtt" ? "WEBVTT\n\n" : "";
      int i = 0;
      for (const auto& seg : kSegments) {
        if (format == "srt") out += std::to_string(++i) + "\n";
        const char sep = format == "vtt" ? '.' : ',';
        out += clock(seg.start, sep) + " --> " + clock(seg.end, sep) + "\n" + std::string(seg.text + 1) + "\n\n";
      }
      return res.set_content(out, format == "vtt" ? "text/vtt" : "application/x-subrip");
    }
    if (format == "json")
      return res.set_content(nlohmann::json{{"text", answer_text()},
                                            {"usage",
                                             {{"type", "tokens"},
                                              {"input_tokens", 14},
                                              {"output_tokens", 3},
                                              {"total_tokens", 17},
                                              {"input_token_details", {{"text_tokens", 0}, {"audio_tokens", 14}}}}}}
                                 .dump(),
                             "application/json");
    if (format != "verbose_json") return refuse("response_format must be json, text, srt, verbose_json or vtt");
    nlohmann::json segments = nlohmann::json::array();
    for (size_t i = 0; i < kSegments.size(); ++i)
      segments.push_back({{"id", i},
                          {"seek", 0},
                          {"start", kSegments[i].start},
                          {"end", kSegments[i].end},
                          {"text", kSegments[i].text},
                          {"tokens", {50364, 2425}},
                          {"temperature", 0.0},
                          {"avg_logprob", -0.25},
                          {"compression_ratio", 0.8},
                          {"no_speech_prob", 0.01}});
    res.set_content(nlohmann::json{{"task", translation ? "translate" : "transcribe"},
                                   {"language", "english"},
                                   {"duration", kAudioSeconds},
                                   {"text", answer_text()},
                                   {"segments", segments},
                                   {"usage", {{"type", "duration"}, {"seconds", 3}}}}
                        .dump(),
                    "application/json");
  }

  // A streamed transcription (gpt-4o-transcribe with stream=true): one transcript.text.delta event
  // per piece of the answer, then transcript.text.done with the whole text and the usage; a
  // CutStream / ErrorInStream step ends it after its deltas, without or with an error event.
  void stream_transcript(httplib::Response& res, const FakeStep& s) {
    auto events = std::make_shared<std::vector<std::string>>();
    for (const auto& d : kDeltas)
      events->push_back("data: " + nlohmann::json{{"type", "transcript.text.delta"}, {"delta", d}}.dump() + "\n\n");
    events->push_back("data: " +
                      nlohmann::json{{"type", "transcript.text.done"},
                                     {"text", answer_text()},
                                     {"usage",
                                      {{"type", "tokens"},
                                       {"input_tokens", 14},
                                       {"output_tokens", 3},
                                       {"total_tokens", 17},
                                       {"input_token_details", {{"text_tokens", 0}, {"audio_tokens", 14}}}}}}
                          .dump() +
                      "\n\n");
    if (s.kind == FakeStep::CutStream || s.kind == FakeStep::ErrorInStream) {
      events->resize(std::min(events->size(), static_cast<size_t>(s.after_deltas)));
      if (s.kind == FakeStep::ErrorInStream) events->push_back(error_event(s.error_type));
    }
    const bool cut = s.kind == FakeStep::CutStream;
    auto i = std::make_shared<size_t>(0);
    res.set_chunked_content_provider("text/event-stream", [this, events, i, cut](size_t, httplib::DataSink& sink) {
      if (stopping_) return false;
      if (*i < events->size()) {
        const std::string& e = (*events)[(*i)++];
        return sink.write(e.data(), e.size());
      }
      if (cut) return false;
      sink.done();
      return true;
    });
  }

  void embeddings_ollama(const httplib::Request& req, httplib::Response& res) {
    if (!embed_guard(req, res)) return;
    auto j = nlohmann::json::parse(req.body);
    auto inputs = inputs_of(j["input"]);
    nlohmann::json e = nlohmann::json::array();
    for (size_t i = 0; i < inputs.size(); ++i) e.push_back(fake_vector(inputs[i], i));
    res.set_content(nlohmann::json{{"model", j.value("model", "")}, {"embeddings", e}, {"prompt_eval_count", 4}}.dump(),
                    "application/json");
  }
  void embeddings_gemini(const httplib::Request& req, httplib::Response& res) {
    if (!embed_guard(req, res)) return;
    auto j = nlohmann::json::parse(req.body);
    nlohmann::json e = nlohmann::json::array();
    size_t i = 0;
    for (const auto& r : j["requests"])
      e.push_back({{"values", fake_vector(r["content"]["parts"][0]["text"].get<std::string>(), i++)}});
    res.set_content(nlohmann::json{{"embeddings", e}}.dump(), "application/json");
  }
  void embeddings_tei(const httplib::Request& req, httplib::Response& res) {
    if (!embed_guard(req, res)) return;
    auto j = nlohmann::json::parse(req.body);
    auto inputs = inputs_of(j["inputs"]);
    if (inputs.size() > 2) {  // --max-client-batch-size 2, as /info says
      res.status = 422;
      res.set_content(R"({"error":"batch size 3 > maximum allowed batch size 2","error_type":"Validation"})",
                      "application/json");
      return;
    }
    nlohmann::json e = nlohmann::json::array();
    for (size_t i = 0; i < inputs.size(); ++i) e.push_back(fake_vector(inputs[i], i));
    res.set_content(e.dump(), "application/json");
  }
  void rerank_tei(const httplib::Request& req, httplib::Response& res) {
    if (!embed_guard(req, res)) return;
    auto j = nlohmann::json::parse(req.body);
    // Longer texts score higher; sorted by descending score, as TEI answers.
    std::vector<std::pair<double, size_t>> s;
    size_t i = 0;
    for (const auto& t : j["texts"])
      s.emplace_back(1.0 - 1.0 / (2.0 + static_cast<double>(t.get<std::string>().size())), i++);
    std::sort(s.rbegin(), s.rend());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [score, idx] : s) out.push_back({{"index", idx}, {"score", score}});
    res.set_content(out.dump(), "application/json");
  }

  FakeProtocol protocol_;
  std::set<std::string> keys_;
  httplib::Server http_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::deque<FakeStep> script_;
  FakeStep always_;
  bool has_always_ = false;
  std::vector<RecordedRequest> requests_;
};

}  // namespace ia::test
