#include "providers/openai_compatible.h"
#include "providers/json_fields.h"

#include <optional>

#include <fmt/format.h>

#include "providers/form_data.h"
#include "providers/stream_readers.h"

namespace ia::providers {

namespace {

Usage usage_of(const nlohmann::json& j) {
  Usage u;
  if (auto it = j.find("usage"); it != j.end() && it->is_object()) {
    u.input_tokens = it->value("prompt_tokens", int64_t{0});
    u.output_tokens = it->value("completion_tokens", int64_t{0});
  }
  return u;
}

[[noreturn]] void throw_stream_error(const std::string& provider, const nlohmann::json& err) {
  ErrorBody b = parse_error_body(nlohmann::json{{"error", err}}.dump());
  const std::string kind = b.type.empty() ? b.code : b.type;
  throw ProviderError(
      classify_error_type(kind), 0,
      fmt::format("{}: error inside the stream: {}{}", provider, b.message, kind.empty() ? "" : " (" + kind + ")"));
}

}  // namespace

bool OpenAIStreamState::on_data(const std::string& provider, const std::string& data, bool chat,
                                const OnText& on_text) {
  if (data == "[DONE]") {
    done = true;
    return false;
  }
  const auto j = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    throw ProviderError(FailureClass::StreamBroken, 0,
                        fmt::format("{}: a stream event is not a JSON object", provider));
  if (auto e = j.find("error"); e != j.end()) throw_stream_error(provider, *e);
  if (result.model.empty()) result.model = field_or(j, "model", "");
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) result.usage = usage_of(j);
  auto choices = j.find("choices");
  if (choices == j.end() || !choices->is_array()) return true;
  for (const auto& c : *choices) {
    if (!c.is_object() || field_or(c, "index", 0) != 0) continue;
    std::string text;
    if (chat) {
      if (auto d = c.find("delta"); d != c.end() && d->is_object()) text = field_or(*d, "content", "");
    } else {
      text = field_or(c, "text", "");
    }
    if (auto f = c.find("finish_reason"); f != c.end() && f->is_string()) result.finish_reason = f->get<std::string>();
    if (!text.empty()) {
      result.text += text;
      if (!on_text(text)) {
        cancelled = true;
        return false;
      }
    }
  }
  return true;
}

OpenAICompatibleProvider::OpenAICompatibleProvider(ProviderConfig config) : Provider(std::move(config)) {}

bool OpenAICompatibleProvider::supports(Capability c) const {
  if (c == Capability::Rerank) return false;
  // The services whose speech routes docs/providers.md covers (TGI has none).
  if (c == Capability::Transcription)
    return config_.type == "openai" || config_.type == "groq" || config_.type == "vllm" || config_.type == "ovms";
  if (c == Capability::Embedding) return config_.type != "tgi";
  return true;
}

FailureClass OpenAICompatibleProvider::classify(int status, const ErrorBody& body) const {
  if (config_.type == "groq") {
    if (status == 498) return FailureClass::Overloaded;  // flex tier out of capacity
    if (status == 499 || status == 424) return FailureClass::CallerFault;
  }
  if (config_.type == "tgi") {
    if (status == 424) return FailureClass::Overloaded;  // "generation": a shard failed; worth one more try
  }
  return Provider::classify(status, body);
}

void OpenAICompatibleProvider::put_params(nlohmann::json& body, const GenerationParams& p) const {
  // OpenAI deprecated max_tokens for max_completion_tokens; the servers that copy its format
  // (vLLM, TGI, OVMS, Groq) read max_tokens, which OpenAI still accepts.
  if (p.max_tokens) body[config_.type == "openai" ? "max_completion_tokens" : "max_tokens"] = *p.max_tokens;
  if (p.temperature) body["temperature"] = *p.temperature;
  if (p.top_p) body["top_p"] = *p.top_p;
  if (!p.stop.empty()) body["stop"] = p.stop;
  if (p.seed) body["seed"] = *p.seed;
}

TextResult OpenAICompatibleProvider::run(const std::string& path, nlohmann::json body, const std::string& key,
                                         const OnText& on_text, bool chat) {
  if (!on_text) {
    const nlohmann::json j = call_json("POST", path, &body, key);
    if (auto e = j.find("error"); e != j.end() && !e->is_null()) throw_stream_error(config_.name, *e);
    TextResult r;
    r.model = field_or(j, "model", "");
    r.usage = usage_of(j);
    auto choices = j.find("choices");
    if (choices == j.end() || !choices->is_array() || choices->empty() || !(*choices)[0].is_object())
      throw ProviderError(FailureClass::Overloaded, 200, fmt::format("{}: the answer has no choices", config_.name));
    const auto& c = (*choices)[0];
    if (chat) {
      if (auto m = c.find("message"); m != c.end() && m->is_object()) r.text = field_or(*m, "content", "");
    } else {
      r.text = field_or(c, "text", "");
    }
    r.finish_reason = field_or(c, "finish_reason", "");
    return r;
  }
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  OpenAIStreamState state;
  SseReader sse([&](const SseEvent& e) { return state.on_data(config_.name, e.data, chat, on_text); });
  call_stream(path, body, key, [&](std::string_view bytes) { return sse.feed(bytes); },
              {{"Accept", "text/event-stream"}});
  if (!state.done && !state.cancelled) {
    sse.finish();
    if (!state.done && !state.cancelled)
      throw ProviderError(FailureClass::StreamBroken, 0,
                          fmt::format("{}: the stream ended without its [DONE] marker", config_.name));
  }
  return state.result;
}

TextResult OpenAICompatibleProvider::chat(const ChatCall& call, const std::string& key, const OnText& on_text) {
  nlohmann::json body{{"model", call.model}, {"messages", nlohmann::json::array()}};
  for (const auto& m : call.messages) {
    // OpenAI renamed the system role "developer" for its reasoning models; both are accepted.
    body["messages"].push_back({{"role", m.role}, {"content", m.content}});
  }
  put_params(body, call.params);
  return run(prefix_ + "/chat/completions", std::move(body), key, on_text, /*chat=*/true);
}

TextResult OpenAICompatibleProvider::complete(const CompletionCall& call, const std::string& key,
                                              const OnText& on_text) {
  nlohmann::json body{{"model", call.model}, {"prompt", call.prompt}};
  GenerationParams p = call.params;
  body["max_tokens"] = p.max_tokens.value_or(16);  // /completions has no max_completion_tokens
  p.max_tokens.reset();
  put_params(body, p);
  return run(prefix_ + "/completions", std::move(body), key, on_text, /*chat=*/false);
}

EmbedResult OpenAICompatibleProvider::embed(const EmbedCall& call, const std::string& key) {
  if (!supports(Capability::Embedding)) throw_unsupported(Capability::Embedding);
  nlohmann::json body{{"model", call.model}, {"input", call.inputs}, {"encoding_format", "float"}};
  if (call.dimensions) body["dimensions"] = *call.dimensions;
  const nlohmann::json j = call_json("POST", prefix_ + "/embeddings", &body, key);
  EmbedResult r;
  r.model = field_or(j, "model", "");
  r.usage = usage_of(j);
  r.vectors.resize(call.inputs.size());
  auto data = j.find("data");
  if (data == j.end() || !data->is_array() || data->size() != call.inputs.size())
    throw ProviderError(FailureClass::Overloaded, 200,
                        fmt::format("{}: the answer has not one embedding per input", config_.name));
  for (const auto& d : *data) {
    const size_t i = field_or(d, "index", size_t{0});
    auto e = d.find("embedding");
    if (i >= r.vectors.size() || e == d.end() || !e->is_array())
      throw ProviderError(FailureClass::Overloaded, 200, fmt::format("{}: a malformed embedding", config_.name));
    for (const auto& v : *e) r.vectors[i].push_back(v.is_number() ? v.get<float>() : 0.f);
  }
  return r;
}

TranscriptionResult OpenAICompatibleProvider::transcribe(const TranscribeCall& call, const std::string& key,
                                                         const OnText& on_text) {
  if (!supports(Capability::Transcription)) throw_unsupported(Capability::Transcription);
  const bool translate = call.task == "translate";
  const std::string format = call.response_format.empty() ? "json" : call.response_format;
  // Only OpenAI (gpt-4o-transcribe; whisper-1 ignores it) and vLLM document stream=true, on
  // transcriptions; Groq, OVMS and translations are asked for the whole answer, given as one delta.
  const bool stream = on_text && !translate && (config_.type == "openai" || config_.type == "vllm");
  if (stream && format != "json" && format != "text")
    throw ProviderError(FailureClass::CallerFault, 400,
                        fmt::format("{}: a streamed transcription is json or text, not {}", config_.name, format));
  // The fields in the order the OpenAI SDK writes them; translations take no language and no
  // timestamp granularities.
  FormData form;
  form.add_file("file", call.filename.empty() ? "audio" : call.filename,
                call.content_type.empty() ? audio_content_type(call.filename) : call.content_type, call.audio);
  form.add_field("model", call.model);
  if (!translate && call.language) form.add_field("language", *call.language);
  if (!call.prompt.empty()) form.add_field("prompt", call.prompt);
  form.add_field("response_format", format);
  if (stream) form.add_field("stream", "true");
  if (call.temperature) form.add_field("temperature", fmt::format("{}", *call.temperature));
  if (!translate)
    for (const auto& g : call.timestamp_granularities) form.add_field("timestamp_granularities[]", g);
  FormData::Encoded e = form.encode();
  const std::string path = prefix_ + (translate ? "/audio/translations" : "/audio/transcriptions");
  if (!stream) {
    TranscriptionResult r = parse_transcription(config_.name, call_raw(path, e.body, e.content_type, key), format);
    if (on_text && !r.text.empty()) on_text(r.text);
    return r;
  }
  // A model that does not stream answers whole (OpenAI: "streaming is not supported for the
  // whisper-1 model and will be ignored"): the Content-Type says which it is.
  TranscriptStreamState state;
  SseReader sse([&](const SseEvent& ev) { return state.on_data(config_.name, ev.data, on_text); });
  std::optional<bool> is_sse;
  std::string whole;
  constexpr size_t kMaxWhole = 64u << 20;
  call_stream_raw(path, std::move(e.body), e.content_type, key,
                  [&](const HttpResponse& head, std::string_view bytes) {
                    if (!is_sse) is_sse = head.header("content-type").find("text/event-stream") != std::string::npos;
                    if (*is_sse) return sse.feed(bytes);
                    if (whole.size() + bytes.size() > kMaxWhole)
                      throw ProviderError(
                          FailureClass::Overloaded, 200,
                          fmt::format("{}: the transcription answer is larger than {} bytes", config_.name, kMaxWhole));
                    whole.append(bytes);
                    return true;
                  },
                  {{"Accept", "text/event-stream"}});
  if (!is_sse || !*is_sse) {
    TranscriptionResult r = parse_transcription(config_.name, whole, format);
    if (!r.text.empty()) on_text(r.text);
    return r;
  }
  if (!state.done && !state.cancelled) {
    sse.finish();
    if (!state.done && !state.cancelled)
      throw ProviderError(FailureClass::StreamBroken, 0,
                          fmt::format("{}: the transcription stream ended without transcript.text.done", config_.name));
  }
  return state.result;
}

std::vector<std::string> OpenAICompatibleProvider::list_models(const std::string& key) {
  const nlohmann::json j = call_json("GET", prefix_ + "/models", nullptr, key);
  std::vector<std::string> out;
  if (auto data = j.find("data"); data != j.end() && data->is_array())
    for (const auto& m : *data)
      if (m.is_object()) out.push_back(field_or(m, "id", ""));
  return out;
}

void OpenAICompatibleProvider::health(const std::string& key) {
  list_models(key);
}

}  // namespace ia::providers
