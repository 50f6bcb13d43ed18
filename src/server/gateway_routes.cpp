// The gateway (serve --providers FILE): a request whose "model" is a routed public name is
// answered through the router (src/router/deployment_router.h), which tries the name's
// deployments in turn — a local model through the local routes themselves, a remote one
// through its provider — and the answer names the deployment that gave it (the
// X-IA-Deployment header; "deployment" in whole JSON answers). A remote stream is read on a
// worker thread and forwarded as it comes; the router may move on to the next deployment only
// until the first text has been forwarded.
#include <atomic>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "providers/json_fields.h"
#include "router/deployment_router.h"
#include "router/result_json.h"
#include "server/api_error.h"
#include "server/delta_stream.h"
#include "server/openai_requests.h"
#include "server/request_json.h"
#include "server/route_handler.h"
#include "server/routes.h"
#include "server/sse_writer.h"
#include "server/transcript_stream.h"
#include "server/transcription_form.h"

namespace ia::server {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* kDeploymentHeader = "X-IA-Deployment";

providers::Priority priority_of(const httplib::Request& req) {
  const std::string p = req.get_header_value("X-IA-Priority");
  if (p.empty() || p == "normal") return providers::Priority::Normal;
  if (p == "high") return providers::Priority::High;
  if (p == "low") return providers::Priority::Low;
  throw invalid_field("X-IA-Priority", "expected high, normal or low");
}

providers::GenerationParams params_of(const GenerationFields& f) {
  providers::GenerationParams p;
  p.max_tokens = f.request.max_new_tokens;
  if (f.request.temperature) p.temperature = *f.request.temperature;
  if (f.request.top_p) p.top_p = *f.request.top_p;
  p.stop = f.request.stop;
  if (f.request.seed) p.seed = static_cast<int64_t>(*f.request.seed);
  return p;
}

// What a remote deployment cannot carry: refused up front, whichever deployment answers.
void refuse_unroutable(const GenerationFields& f, const std::string& model) {
  auto refuse = [&](const char* param) {
    throw unsupported_field(
        param, fmt::format("`{}` is a routed model; `{}` is not forwarded to its deployments", model, param));
  };
  if (f.n != 1) refuse("n");
  if (f.request.logprobs >= 0) refuse("logprobs");
  if (f.request.grammar) refuse("response_format");
  if (!f.request.logit_bias.empty()) refuse("logit_bias");
}

std::string chunk_id() {
  static std::atomic<uint64_t> n{0};
  return fmt::format("cmpl-gw-{:x}-{}", Clock::now().time_since_epoch().count(), n++);
}

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Header {
  bool chat = true;
  std::string id, model;
  int64_t created = 0;
  json chunk(json choice) const {
    return json{{"id", id},
                {"object", chat ? "chat.completion.chunk" : "text_completion"},
                {"created", created},
                {"model", model},
                {"choices", json::array({std::move(choice)})}};
  }
  json text_chunk(const std::string& text) const {
    return chat ? chunk({{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", nullptr}})
                : chunk({{"index", 0}, {"text", text}, {"finish_reason", nullptr}});
  }
};

json usage_json(const providers::Usage& u) {
  return {{"prompt_tokens", u.input_tokens},
          {"completion_tokens", u.output_tokens},
          {"total_tokens", u.input_tokens + u.output_tokens}};
}

// A transcription's usage as OpenAI writes it (null: the service gave none).
json transcription_usage_json(const providers::Usage& u) {
  if (u.audio_seconds > 0) return {{"type", "duration"}, {"seconds", u.audio_seconds}};
  if (u.input_tokens || u.output_tokens)
    return {{"type", "tokens"},
            {"input_tokens", u.input_tokens},
            {"output_tokens", u.output_tokens},
            {"total_tokens", u.input_tokens + u.output_tokens}};
  return nullptr;
}

std::string whole_json(const Header& h, const providers::TextResult& r, const std::string& deployment) {
  json choice{
      {"index", 0}, {"finish_reason", r.finish_reason.empty() ? "stop" : r.finish_reason}, {"logprobs", nullptr}};
  if (h.chat)
    choice["message"] = {{"role", "assistant"}, {"content", r.text}};
  else
    choice["text"] = r.text;
  return router::dump_json(json{{"id", h.id},
                                {"object", h.chat ? "chat.completion" : "text_completion"},
                                {"created", h.created},
                                {"model", h.model},
                                {"choices", json::array({choice})},
                                {"usage", usage_json(r.usage)},
                                {"deployment", deployment}});
}

// A remote stream between its worker thread (the provider call) and the connection's thread.
using RemoteStream = DeltaQueue<providers::TextResult>;

// Writes a remote stream as OpenAI server-sent events; dropped unfinished, it cancels the call.
class GatewayStreamWriter {
 public:
  GatewayStreamWriter(ServerState& s, std::shared_ptr<RemoteStream> st, Header h, bool include_usage)
      : in_flight_(s), st_(std::move(st)), h_(std::move(h)), usage_(include_usage) {}
  ~GatewayStreamWriter() { st_->cancel(); }
  GatewayStreamWriter(const GatewayStreamWriter&) = delete;
  GatewayStreamWriter& operator=(const GatewayStreamWriter&) = delete;

  bool step(httplib::DataSink& sink) {
    SseWriter sse(sink);
    if (!opened_) {
      opened_ = true;
      if (h_.chat &&
          !sse.event(router::dump_json(h_.chunk(
              {{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}}))))
        return false;
    }
    const DeltaStep step = drain_deltas(
        *st_, sse, last_write_, [&](const std::string& d) { return sse.event(router::dump_json(h_.text_chunk(d))); });
    if (step != DeltaStep::Ended) return step == DeltaStep::More;
    if (st_->error) {
      if (!write_error_event(sse, st_->error)) return false;
    } else {
      const std::string reason = st_->result.finish_reason.empty() ? "stop" : st_->result.finish_reason;
      json fin = h_.chat ? h_.chunk({{"index", 0}, {"delta", json::object()}, {"finish_reason", reason}})
                         : h_.chunk({{"index", 0}, {"text", ""}, {"finish_reason", reason}});
      if (!sse.event(router::dump_json(fin))) return false;
      if (usage_) {
        json u = h_.chunk({});
        u["choices"] = json::array();
        u["usage"] = usage_json(st_->result.usage);
        if (!sse.event(router::dump_json(u))) return false;
      }
    }
    if (!sse.done()) return false;
    sse.close();
    return true;
  }

 private:
  InFlight in_flight_;
  std::shared_ptr<RemoteStream> st_;
  Header h_;
  bool usage_;
  bool opened_ = false;
  Clock::time_point last_write_ = Clock::now();
};

// A local deployment's turn: the local route answers with the request's model renamed. Its
// refusals that mean "not here, not now" (model not served, queue full, loading) move the
// chain on; any other is the request's own.
template <typename F>
void as_local_deployment(F&& answer) {
  try {
    answer();
  } catch (const ApiError& e) {
    if (e.status() == 429 || e.status() == 503 || e.code() == "model_not_found")
      fail(ErrorKind::Unavailable, "{}", e.what());
    throw;
  }
}

void run_local(ServerState& s, const std::string& body_with_model, httplib::Response& res, bool chat) {
  as_local_deployment([&] {
    if (chat)
      local_chat_completions(s, body_with_model, res);
    else
      local_completions(s, body_with_model, res);
  });
}

bool route_generation(ServerState& s, const httplib::Request& req, const std::string& body, httplib::Response& res,
                      bool chat) {
  if (!s.router) return false;
  const auto obj = parse_request_object(body);
  const auto name = string_field(obj, "model", "model");
  if (!name || !s.router->routes(*name)) return false;

  std::shared_ptr<GenerationFields> fields;
  providers::ChatCall chat_call;
  providers::CompletionCall completion_call;
  if (chat) {
    auto r = std::make_shared<ChatCompletionRequest>(parse_chat_completion_request(body, s.limits));
    if (r->tools.any()) throw unsupported_field("tools", "`" + *name + "` is a routed model; tools are not forwarded");
    for (const auto& m : r->messages) {
      std::string content;
      if (auto c = m.find("content"); c != m.end() && c->is_string()) content = c->get<std::string>();
      chat_call.messages.push_back({providers::field_or(m, "role", std::string("user")), content});
    }
    chat_call.params = params_of(*r);
    fields = r;
  } else {
    auto r = std::make_shared<CompletionRequest>(parse_completion_request(body, s.limits));
    if (r->prompts.size() != 1 || r->prompts[0].is_ids)
      throw unsupported_field("prompt", "`" + *name + "` is a routed model: one text prompt per request");
    if (r->echo) throw unsupported_field("echo", "`" + *name + "` is a routed model; echo is not forwarded");
    completion_call.prompt = r->prompts[0].text;
    completion_call.params = params_of(*r);
    fields = r;
  }
  refuse_unroutable(*fields, *name);
  const providers::Priority priority = priority_of(req);
  Header h{chat, chunk_id(), *name, now_s()};

  router::Deployment& d = s.router->run(*name, [&](router::Deployment& dep) {
    if (dep.local()) {
      json j = json::parse(body);
      j["model"] = dep.model;
      run_local(s, j.dump(), res, chat);
      return;
    }
    if (!fields->stream) {
      providers::TextResult r;
      if (chat) {
        chat_call.model = dep.model;
        r = dep.client->chat(chat_call, nullptr, priority);
      } else {
        completion_call.model = dep.model;
        r = dep.client->complete(completion_call, nullptr, priority);
      }
      send_json(res, whole_json(h, r, dep.name));
      return;
    }
    auto st = std::make_shared<RemoteStream>();
    providers::ProviderClient* client = dep.client;
    std::thread([st, client, chat, chat_call, completion_call, priority, model = dep.model]() mutable {
      providers::TextResult r;
      try {
        const providers::OnText push = [st](std::string_view d) { return st->push(d); };
        if (chat) {
          chat_call.model = model;
          r = client->chat(chat_call, push, priority);
        } else {
          completion_call.model = model;
          r = client->complete(completion_call, push, priority);
        }
        st->finish(std::move(r), nullptr);
      } catch (...) {
        st->finish({}, std::current_exception());
      }
    }).detach();
    st->await_first();  // a failure before any text: the chain moves on
    auto writer = std::make_shared<GatewayStreamWriter>(s, st, h, fields->include_usage);
    respond_with_events(res, [writer](httplib::DataSink& sink) { return writer->step(sink); });
  });
  res.set_header(kDeploymentHeader, d.name);
  return true;
}

}  // namespace

bool route_chat(ServerState& s, const httplib::Request& req, const std::string& body, httplib::Response& res) {
  return route_generation(s, req, body, res, /*chat=*/true);
}

bool route_completion(ServerState& s, const httplib::Request& req, const std::string& body, httplib::Response& res) {
  return route_generation(s, req, body, res, /*chat=*/false);
}

bool route_embeddings(ServerState& s, const httplib::Request& req, const std::string& body, httplib::Response& res) {
  if (!s.router) return false;
  const auto obj = parse_request_object(body);
  const auto name = string_field(obj, "model", "model");
  if (!name || !s.router->routes(*name)) return false;
  EmbeddingRequest r = parse_embedding_request(body, s.limits);
  if (!r.id_lists.empty() || !r.multimodal.empty())
    throw unsupported_field("input", "`" + *name + "` is a routed model: text inputs only");
  if (r.base64) throw unsupported_field("encoding_format", "`" + *name + "` is a routed model: float only");
  providers::EmbedCall call{*name, r.texts, r.dimensions};
  const providers::Priority priority = priority_of(req);
  router::Deployment& d = s.router->run(*name, [&](router::Deployment& dep) {
    if (dep.local()) {
      json j = json::parse(body);
      j["model"] = dep.model;
      as_local_deployment([&] { local_embeddings(s, j.dump(), res); });
      return;
    }
    call.model = dep.model;
    providers::EmbedResult e = dep.client->embed(call, priority);
    json data = json::array();
    for (size_t i = 0; i < e.vectors.size(); ++i)
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", e.vectors[i]}});
    send_json(res, router::dump_json(json{
                       {"object", "list"},
                       {"data", data},
                       {"model", *name},
                       {"usage", {{"prompt_tokens", e.usage.input_tokens}, {"total_tokens", e.usage.input_tokens}}},
                       {"deployment", dep.name}}));
  });
  res.set_header(kDeploymentHeader, d.name);
  return true;
}

bool route_transcription(ServerState& s, const httplib::Request& req, const std::vector<FormPart>& parts,
                         httplib::Response& res, const std::string& task) {
  if (!s.router) return false;
  const FormPart* model = find_part(parts, "model");
  if (!model || !s.router->routes(model->data)) return false;
  const TranscriptionForm form = parse_transcription_form(parts, task);
  const providers::Priority priority = priority_of(req);
  // The upload goes on as it came; the answer is asked for in the shape that carries what
  // `form.format` needs (segments for subtitles and verbose_json) and written here as the
  // local models' answers are.
  providers::TranscribeCall call;
  call.audio = form.file->data;
  call.filename = form.file->filename.value_or("audio");
  call.content_type = form.file->content_type;
  call.task = task;
  call.language = form.language;
  call.prompt = form.prompt;
  if (form.temperature) call.temperature = *form.temperature;
  const bool segments = form.format == "srt" || form.format == "vtt" || form.format == "verbose_json";
  call.response_format = segments ? "verbose_json" : "json";  // a stream is json or text: "json"
  if (form.segment_timestamps) call.timestamp_granularities = {"segment"};
  router::Deployment& d = s.router->run(
      form.model,
      [&](router::Deployment& dep) {
        if (dep.local()) {
          TranscriptionForm local = form;
          local.model = dep.model;
          as_local_deployment([&] { local_transcription(s, local, res, dep.name); });
          return;
        }
        call.model = dep.model;
        if (form.stream) {
          // Relayed as it comes; a failure before the first text moves the chain on, one after
          // it ends the stream with an error event (never replayed elsewhere).
          stream_transcript(s, res, [client = dep.client, call, priority](const OnDelta& on_delta) {
            const providers::TranscriptionResult r = client->transcribe(call, priority, on_delta);
            return StreamedTranscript{r.text, transcription_usage_json(r.usage)};
          });
          return;
        }
        const providers::TranscriptionResult r = dep.client->transcribe(call, priority);
        Transcript t;
        t.text = r.text;
        t.language = r.language;
        t.duration = r.duration.value_or(0);
        for (const auto& seg : r.segments) t.segments.push_back({seg.start, seg.end, seg.text});
        send_transcript(res, t, form, dep.name);
      },
      nullptr, providers::Capability::Transcription);
  res.set_header(kDeploymentHeader, d.name);
  return true;
}

}  // namespace ia::server
