#include "providers/ollama_provider.h"
#include "providers/json_fields.h"

#include <fmt/format.h>

#include "providers/stream_readers.h"

namespace ia::providers {

namespace {

nlohmann::json options_of(const GenerationParams& p) {
  nlohmann::json o = nlohmann::json::object();
  if (p.max_tokens) o["num_predict"] = *p.max_tokens;
  if (p.temperature) o["temperature"] = *p.temperature;
  if (p.top_p) o["top_p"] = *p.top_p;
  if (!p.stop.empty()) o["stop"] = p.stop;
  if (p.seed) o["seed"] = *p.seed;
  return o;
}

std::string text_of(const nlohmann::json& j, bool chat) {
  if (chat) {
    auto m = j.find("message");
    if (m != j.end() && m->is_object()) {
      auto c = m->find("content");
      if (c != m->end() && c->is_string()) return c->get<std::string>();
    }
    return {};
  }
  auto r = j.find("response");
  return r != j.end() && r->is_string() ? r->get<std::string>() : std::string();
}

void finish(TextResult& r, const nlohmann::json& j) {
  r.finish_reason = field_or(j, "done_reason", std::string("stop"));
  r.usage.input_tokens = field_or(j, "prompt_eval_count", int64_t{0});
  r.usage.output_tokens = field_or(j, "eval_count", int64_t{0});
}

}  // namespace

bool OllamaStreamState::on_line(const std::string& provider, std::string_view line, bool chat, const OnText& on_text) {
  const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    throw ProviderError(FailureClass::StreamBroken, 0, fmt::format("{}: a stream line is not a JSON object", provider));
  if (auto e = j.find("error"); e != j.end())
    throw ProviderError(
        FailureClass::Overloaded, 0,
        fmt::format("{}: error inside the stream: {}", provider, e->is_string() ? e->get<std::string>() : e->dump()));
  if (result.model.empty()) result.model = field_or(j, "model", std::string());
  const std::string text = text_of(j, chat);
  if (!text.empty()) {
    result.text += text;
    if (!on_text(text)) {
      cancelled = true;
      return false;
    }
  }
  if (field_or(j, "done", false)) {
    finish(result, j);
    done = true;
    return false;
  }
  return true;
}

TextResult OllamaProvider::run(const std::string& path, nlohmann::json body, const std::string& key,
                               const OnText& on_text, bool chat) {
  body["stream"] = static_cast<bool>(on_text);  // Ollama streams unless told not to
  if (!on_text) {
    const nlohmann::json j = call_json("POST", path, &body, key);
    if (auto e = j.find("error"); e != j.end())
      throw ProviderError(FailureClass::Overloaded, 200, fmt::format("{}: {}", config_.name, e->dump()));
    TextResult r;
    r.model = field_or(j, "model", std::string());
    r.text = text_of(j, chat);
    finish(r, j);
    return r;
  }
  OllamaStreamState state;
  LineReader lines([&](std::string_view l) { return state.on_line(config_.name, l, chat, on_text); });
  call_stream(path, body, key, [&](std::string_view bytes) { return lines.feed(bytes); });
  if (!state.done && !state.cancelled) {
    lines.finish();
    if (!state.done && !state.cancelled)
      throw ProviderError(FailureClass::StreamBroken, 0,
                          fmt::format("{}: the stream ended without its \"done\": true line", config_.name));
  }
  return state.result;
}

TextResult OllamaProvider::chat(const ChatCall& call, const std::string& key, const OnText& on_text) {
  nlohmann::json body{{"model", call.model}, {"messages", nlohmann::json::array()}};
  for (const auto& m : call.messages) body["messages"].push_back({{"role", m.role}, {"content", m.content}});
  body["options"] = options_of(call.params);
  return run("/api/chat", std::move(body), key, on_text, /*chat=*/true);
}

TextResult OllamaProvider::complete(const CompletionCall& call, const std::string& key, const OnText& on_text) {
  // raw: the prompt as given, without the model's template (as /v1/completions and `generate` mean it).
  nlohmann::json body{{"model", call.model}, {"prompt", call.prompt}, {"raw", true}};
  body["options"] = options_of(call.params);
  return run("/api/generate", std::move(body), key, on_text, /*chat=*/false);
}

EmbedResult OllamaProvider::embed(const EmbedCall& call, const std::string& key) {
  nlohmann::json body{{"model", call.model}, {"input", call.inputs}};
  if (call.dimensions) body["dimensions"] = *call.dimensions;
  const nlohmann::json j = call_json("POST", "/api/embed", &body, key);
  EmbedResult r;
  r.model = field_or(j, "model", std::string());
  r.usage.input_tokens = field_or(j, "prompt_eval_count", int64_t{0});
  auto e = j.find("embeddings");
  if (e == j.end() || !e->is_array() || e->size() != call.inputs.size())
    throw ProviderError(FailureClass::Overloaded, 200,
                        fmt::format("{}: the answer has not one embedding per input", config_.name));
  for (const auto& v : *e) {
    std::vector<float> vec;
    if (v.is_array())
      for (const auto& x : v) vec.push_back(x.is_number() ? x.get<float>() : 0.f);
    r.vectors.push_back(std::move(vec));
  }
  return r;
}

std::vector<std::string> OllamaProvider::list_models(const std::string& key) {
  const nlohmann::json j = call_json("GET", "/api/tags", nullptr, key);
  std::vector<std::string> out;
  if (auto m = j.find("models"); m != j.end() && m->is_array())
    for (const auto& x : *m)
      if (x.is_object()) out.push_back(field_or(x, "name", std::string()));
  return out;
}

void OllamaProvider::health(const std::string& key) {
  call_json("GET", "/api/version", nullptr, key);
}

}  // namespace ia::providers
