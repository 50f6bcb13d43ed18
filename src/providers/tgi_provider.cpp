#include "providers/tgi_provider.h"
#include "providers/json_fields.h"

#include <fmt/format.h>

#include "providers/stream_readers.h"

namespace ia::providers {

namespace {

nlohmann::json parameters_of(const GenerationParams& p) {
  nlohmann::json o = nlohmann::json::object();
  if (p.max_tokens) o["max_new_tokens"] = *p.max_tokens;
  if (p.temperature) {
    if (*p.temperature > 0) {
      o["temperature"] = *p.temperature;
      o["do_sample"] = true;
    } else {
      o["do_sample"] = false;  // TGI refuses temperature 0: greedy is do_sample false
    }
  }
  if (p.top_p) o["top_p"] = *p.top_p;
  if (!p.stop.empty()) o["stop"] = p.stop;
  if (p.seed) o["seed"] = *p.seed;
  o["details"] = true;
  return o;
}

void read_details(const nlohmann::json& d, TextResult& r) {
  if (!d.is_object()) return;
  if (auto f = d.find("finish_reason"); f != d.end() && f->is_string())
    r.finish_reason = tgi_finish_reason(f->get<std::string>());
  r.usage.output_tokens = field_or(d, "generated_tokens", r.usage.output_tokens);
  r.usage.input_tokens = field_or(d, "input_length", r.usage.input_tokens);
}

}  // namespace

std::string tgi_finish_reason(const std::string& r) {
  if (r == "eos_token" || r == "stop_sequence") return "stop";
  return r;  // "length"
}

bool TgiStreamState::on_data(const std::string& provider, const std::string& data, const OnText& on_text) {
  const auto j = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    throw ProviderError(FailureClass::StreamBroken, 0,
                        fmt::format("{}: a stream event is not a JSON object", provider));
  if (auto e = j.find("error"); e != j.end()) {
    const std::string type = field_or(j, "error_type", std::string());
    throw ProviderError(classify_error_type(type), 0,
                        fmt::format("{}: error inside the stream: {} ({})", provider,
                                    e->is_string() ? e->get<std::string>() : e->dump(), type));
  }
  if (auto t = j.find("token"); t != j.end() && t->is_object() && !t->value("special", false)) {
    const std::string text = t->value("text", std::string());
    if (!text.empty()) {
      result.text += text;
      if (!on_text(text)) {
        cancelled = true;
        return false;
      }
    }
  }
  if (auto g = j.find("generated_text"); g != j.end() && g->is_string()) {
    if (auto d = j.find("details"); d != j.end()) read_details(*d, result);
    done = true;
    return false;
  }
  return true;
}

TextResult TgiProvider::complete(const CompletionCall& call, const std::string& key, const OnText& on_text) {
  const nlohmann::json body{{"inputs", call.prompt}, {"parameters", parameters_of(call.params)}};
  if (!on_text) {
    const nlohmann::json j = call_json("POST", "/generate", &body, key);
    TextResult r;
    r.model = "tgi";
    r.text = field_or(j, "generated_text", std::string());
    if (auto d = j.find("details"); d != j.end()) read_details(*d, r);
    return r;
  }
  TgiStreamState state;
  state.result.model = "tgi";
  SseReader sse([&](const SseEvent& e) { return state.on_data(config_.name, e.data, on_text); });
  call_stream("/generate_stream", body, key, [&](std::string_view bytes) { return sse.feed(bytes); },
              {{"Accept", "text/event-stream"}});
  if (!state.done && !state.cancelled) {
    sse.finish();
    if (!state.done && !state.cancelled)
      throw ProviderError(FailureClass::StreamBroken, 0,
                          fmt::format("{}: the stream ended before its generated_text event", config_.name));
  }
  return state.result;
}

void TgiProvider::health(const std::string& key) {
  HttpRequest req;
  req.url = config_.base_url + "/health";
  req.headers = auth_headers(key);
  const HttpOutcome o = http_send(req, config_.timeouts);
  if (o.response.status != 0 && o.response.status != 200) throw_http_error(o.response);
  if (o.failure != TransportFailure::None) throw_transport_error(o);
}

}  // namespace ia::providers
