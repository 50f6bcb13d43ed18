#include "providers/anthropic_provider.h"
#include "providers/json_fields.h"

#include <fmt/format.h>

#include "providers/stream_readers.h"

namespace ia::providers {

namespace {

constexpr const char* kApiVersion = "2023-06-01";

nlohmann::json request_body(const ChatCall& call) {
  nlohmann::json body{{"model", call.model}, {"messages", nlohmann::json::array()}};
  std::string system;
  for (const auto& m : call.messages) {
    if (m.role == "system" || m.role == "developer") {  // no system role inside messages
      system += (system.empty() ? "" : "\n\n") + m.content;
      continue;
    }
    body["messages"].push_back({{"role", m.role == "assistant" ? "assistant" : "user"}, {"content", m.content}});
  }
  if (!system.empty()) body["system"] = system;
  // Required by the API; 4096 is what its own examples and the SDK quickstarts use.
  body["max_tokens"] = call.params.max_tokens.value_or(4096);
  if (call.params.temperature) body["temperature"] = *call.params.temperature;
  if (call.params.top_p) body["top_p"] = *call.params.top_p;
  if (!call.params.stop.empty()) body["stop_sequences"] = call.params.stop;
  return body;
}

}  // namespace

std::string anthropic_finish_reason(const std::string& s) {
  if (s == "end_turn" || s == "stop_sequence" || s == "pause_turn") return "stop";
  if (s == "max_tokens" || s == "model_context_window_exceeded") return "length";
  if (s == "tool_use") return "tool_calls";
  if (s == "refusal") return "content_filter";
  return s;
}

bool AnthropicStreamState::on_event(const std::string& provider, const std::string& event, const std::string& data,
                                    const OnText& on_text) {
  const auto j = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    throw ProviderError(FailureClass::StreamBroken, 0,
                        fmt::format("{}: a stream event is not a JSON object", provider));
  const std::string type = event.empty() ? field_or(j, "type", std::string()) : event;
  if (type == "message_start") {
    if (auto m = j.find("message"); m != j.end() && m->is_object()) {
      result.model = m->value("model", std::string());
      if (auto u = m->find("usage"); u != m->end() && u->is_object())
        result.usage.input_tokens = u->value("input_tokens", int64_t{0});
    }
  } else if (type == "content_block_delta") {
    auto d = j.find("delta");
    if (d != j.end() && d->is_object() && d->value("type", std::string()) == "text_delta") {
      const std::string text = d->value("text", std::string());
      if (!text.empty()) {
        result.text += text;
        if (!on_text(text)) {
          cancelled = true;
          return false;
        }
      }
    }
  } else if (type == "message_delta") {
    if (auto d = j.find("delta"); d != j.end() && d->is_object())
      if (auto s = d->find("stop_reason"); s != d->end() && s->is_string())
        result.finish_reason = anthropic_finish_reason(s->get<std::string>());
    if (auto u = j.find("usage"); u != j.end() && u->is_object())
      result.usage.output_tokens = u->value("output_tokens", result.usage.output_tokens);
  } else if (type == "message_stop") {
    done = true;
    return false;
  } else if (type == "error") {
    const ErrorBody b = parse_error_body(data);
    throw ProviderError(classify_error_type(b.type), 0,
                        fmt::format("{}: error inside the stream: {} ({})", provider, b.message, b.type));
  }
  return true;  // ping, content_block_start/stop and event types added later
}

std::vector<std::pair<std::string, std::string>> AnthropicProvider::auth_headers(const std::string& key) const {
  std::vector<std::pair<std::string, std::string>> h;
  if (!key.empty()) h.emplace_back("x-api-key", key);
  h.emplace_back("anthropic-version", kApiVersion);
  for (const auto& [name, value] : config_.headers) h.emplace_back(name, value);
  return h;
}

FailureClass AnthropicProvider::classify(int status, const ErrorBody& body) const {
  if (body.type == "billing_error") return FailureClass::KeyFault;
  if (status == 529 || body.type == "overloaded_error") return FailureClass::Overloaded;  // platform-wide
  return Provider::classify(status, body);
}

TextResult AnthropicProvider::chat(const ChatCall& call, const std::string& key, const OnText& on_text) {
  nlohmann::json body = request_body(call);
  if (!on_text) {
    const nlohmann::json j = call_json("POST", "/v1/messages", &body, key);
    TextResult r;
    r.model = field_or(j, "model", std::string());
    if (auto c = j.find("content"); c != j.end() && c->is_array())
      for (const auto& block : *c)
        if (block.is_object() && field_or(block, "type", std::string()) == "text")
          r.text += field_or(block, "text", "");
    if (auto s = j.find("stop_reason"); s != j.end() && s->is_string())
      r.finish_reason = anthropic_finish_reason(s->get<std::string>());
    if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
      r.usage.input_tokens = u->value("input_tokens", int64_t{0});
      r.usage.output_tokens = u->value("output_tokens", int64_t{0});
    }
    return r;
  }
  body["stream"] = true;
  AnthropicStreamState state;
  SseReader sse([&](const SseEvent& e) { return state.on_event(config_.name, e.event, e.data, on_text); });
  call_stream("/v1/messages", body, key, [&](std::string_view bytes) { return sse.feed(bytes); },
              {{"Accept", "text/event-stream"}});
  if (!state.done && !state.cancelled) {
    sse.finish();
    if (!state.done && !state.cancelled)
      throw ProviderError(FailureClass::StreamBroken, 0,
                          fmt::format("{}: the stream ended without message_stop", config_.name));
  }
  return state.result;
}

std::vector<std::string> AnthropicProvider::list_models(const std::string& key) {
  const nlohmann::json j = call_json("GET", "/v1/models?limit=1000", nullptr, key);
  std::vector<std::string> out;
  if (auto data = j.find("data"); data != j.end() && data->is_array())
    for (const auto& m : *data)
      if (m.is_object()) out.push_back(field_or(m, "id", std::string()));
  return out;
}

}  // namespace ia::providers
