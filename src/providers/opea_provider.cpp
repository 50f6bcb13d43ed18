#include "providers/opea_provider.h"
#include "providers/json_fields.h"

#include <fmt/format.h>

#include "providers/stream_readers.h"

namespace ia::providers {

std::optional<std::string> decode_python_bytes(std::string_view p) {
  if (p.size() < 3 || p[0] != 'b' || (p[1] != '\'' && p[1] != '"') || p.back() != p[1]) return std::nullopt;
  const std::string_view s = p.substr(2, p.size() - 3);
  std::string out;
  auto hexval = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i >= s.size()) return std::nullopt;
    switch (s[i]) {
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'x': {
        if (i + 2 >= s.size()) return std::nullopt;
        const int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
        if (a < 0 || b < 0) return std::nullopt;
        out += static_cast<char>(a * 16 + b);
        i += 2;
        break;
      }
      default:
        out += '\\';
        out += s[i];
        break;
    }
  }
  return out;
}

TextResult OpeaProvider::chat(const ChatCall& call, const std::string& key, const OnText& on_text) {
  nlohmann::json body{{"messages", nlohmann::json::array()}, {"stream", static_cast<bool>(on_text)}};
  if (!call.model.empty()) body["model"] = call.model;
  for (const auto& m : call.messages) body["messages"].push_back({{"role", m.role}, {"content", m.content}});
  if (call.params.max_tokens) body["max_tokens"] = *call.params.max_tokens;
  if (call.params.temperature) body["temperature"] = *call.params.temperature;
  if (call.params.top_p) body["top_p"] = *call.params.top_p;
  if (!on_text) {
    const nlohmann::json j = call_json("POST", "/v1/chatqna", &body, key);
    TextResult r;
    r.model = field_or(j, "model", std::string("chatqna"));
    auto c = j.find("choices");
    if (c == j.end() || !c->is_array() || c->empty())
      throw ProviderError(FailureClass::Overloaded, 200, fmt::format("{}: the answer has no choices", config_.name));
    const auto& choice = (*c)[0];
    if (auto m = choice.find("message"); m != choice.end() && m->is_object()) r.text = m->value("content", "");
    r.finish_reason = field_or(choice, "finish_reason", std::string("stop"));
    return r;
  }
  TextResult result;
  result.model = "chatqna";
  bool done = false, cancelled = false;
  SseReader sse([&](const SseEvent& e) {
    if (e.data == "[DONE]") {
      done = true;
      return false;
    }
    auto text = decode_python_bytes(e.data);
    if (!text) {
      // A gateway in front of an OpenAI-shaped LLM may pass its JSON chunks through.
      const auto j = nlohmann::json::parse(e.data, nullptr, false);
      if (!j.is_object())
        throw ProviderError(FailureClass::StreamBroken, 0,
                            fmt::format("{}: a stream event is neither b'…' nor JSON", config_.name));
      text = std::string();
      if (auto c = j.find("choices"); c != j.end() && c->is_array() && !c->empty())
        if (auto d = (*c)[0].find("delta"); d != (*c)[0].end() && d->is_object()) *text = d->value("content", "");
    }
    if (*text == "</s>") return true;  // an end-of-sequence token some LLM backends let through
    if (!text->empty()) {
      result.text += *text;
      if (!on_text(*text)) {
        cancelled = true;
        return false;
      }
    }
    return true;
  });
  call_stream("/v1/chatqna", body, key, [&](std::string_view bytes) { return sse.feed(bytes); },
              {{"Accept", "text/event-stream"}});
  if (!done && !cancelled) {
    sse.finish();
    if (!done && !cancelled)
      throw ProviderError(FailureClass::StreamBroken, 0,
                          fmt::format("{}: the stream ended without its [DONE] marker", config_.name));
  }
  result.finish_reason = "stop";
  return result;
}

void OpeaProvider::health(const std::string& key) {
  call_json("GET", "/v1/health_check", nullptr, key);
}

}  // namespace ia::providers
