#include "providers/gemini_provider.h"
#include "providers/json_fields.h"

#include <fmt/format.h>

#include "providers/retry_hints.h"
#include "providers/stream_readers.h"

namespace ia::providers {

namespace {

nlohmann::json request_body(const ChatCall& call) {
  nlohmann::json body{{"contents", nlohmann::json::array()}};
  std::string system;
  for (const auto& m : call.messages) {
    if (m.role == "system" || m.role == "developer") {  // no system role in contents
      system += (system.empty() ? "" : "\n\n") + m.content;
      continue;
    }
    body["contents"].push_back(
        {{"role", m.role == "assistant" ? "model" : "user"}, {"parts", {{{"text", m.content}}}}});
  }
  if (!system.empty()) body["systemInstruction"] = {{"parts", {{{"text", system}}}}};
  nlohmann::json gc = nlohmann::json::object();
  if (call.params.max_tokens) gc["maxOutputTokens"] = *call.params.max_tokens;
  if (call.params.temperature) gc["temperature"] = *call.params.temperature;
  if (call.params.top_p) gc["topP"] = *call.params.top_p;
  if (!call.params.stop.empty()) gc["stopSequences"] = call.params.stop;
  if (call.params.seed) gc["seed"] = *call.params.seed;
  if (!gc.empty()) body["generationConfig"] = gc;
  return body;
}

// The text of candidates[0] and its finish reason; a prompt blocked by safety (no candidates,
// promptFeedback.blockReason) is the caller's: not retried.
std::string read_candidate(const std::string& provider, const nlohmann::json& j, TextResult& r) {
  if (auto u = j.find("usageMetadata"); u != j.end() && u->is_object()) {
    r.usage.input_tokens = u->value("promptTokenCount", r.usage.input_tokens);
    r.usage.output_tokens = u->value("candidatesTokenCount", r.usage.output_tokens);
  }
  if (r.model.empty()) r.model = field_or(j, "modelVersion", std::string());
  auto c = j.find("candidates");
  if (c == j.end() || !c->is_array() || c->empty()) {
    if (auto f = j.find("promptFeedback"); f != j.end() && f->contains("blockReason"))
      throw ProviderError(FailureClass::CallerFault, 200,
                          fmt::format("{}: the prompt was blocked ({})", provider, (*f)["blockReason"].dump()));
    return {};
  }
  const auto& cand = (*c)[0];
  std::string text;
  if (auto content = cand.find("content"); content != cand.end() && content->is_object())
    if (auto parts = content->find("parts"); parts != content->end() && parts->is_array())
      for (const auto& p : *parts)
        if (p.is_object() && p.contains("text") && p["text"].is_string()) text += p["text"].get<std::string>();
  if (auto f = cand.find("finishReason"); f != cand.end() && f->is_string())
    r.finish_reason = gemini_finish_reason(f->get<std::string>());
  return text;
}

std::string model_path(const std::string& model) {
  return "/models/" + percent_encode(model.rfind("models/", 0) == 0 ? model.substr(7) : model, false);
}

}  // namespace

std::string gemini_finish_reason(const std::string& r) {
  if (r == "STOP") return "stop";
  if (r == "MAX_TOKENS") return "length";
  if (r == "SAFETY" || r == "RECITATION" || r == "BLOCKLIST" || r == "PROHIBITED_CONTENT" || r == "SPII")
    return "content_filter";
  return r.empty() ? r : "stop";
}

bool GeminiStreamState::on_data(const std::string& provider, const std::string& data, const OnText& on_text) {
  const auto j = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    throw ProviderError(FailureClass::StreamBroken, 0,
                        fmt::format("{}: a stream event is not a JSON object", provider));
  if (auto e = j.find("error"); e != j.end()) {
    const ErrorBody b = parse_error_body(data);
    throw ProviderError(classify_error_type(b.type), 0,
                        fmt::format("{}: error inside the stream: {} ({})", provider, b.message, b.type));
  }
  const std::string text = read_candidate(provider, j, result);
  if (!result.finish_reason.empty()) finished = true;
  if (!text.empty()) {
    result.text += text;
    if (!on_text(text)) {
      cancelled = true;
      return false;
    }
  }
  return true;
}

std::vector<std::pair<std::string, std::string>> GeminiProvider::auth_headers(const std::string& key) const {
  std::vector<std::pair<std::string, std::string>> h;
  if (!key.empty()) h.emplace_back("x-goog-api-key", key);
  for (const auto& [name, value] : config_.headers) h.emplace_back(name, value);
  return h;
}

FailureClass GeminiProvider::classify(int status, const ErrorBody& body) const {
  // Gemini reports a bad key as 400 INVALID_ARGUMENT (reason API_KEY_INVALID).
  if (status == 400 && body.message.find("API key") != std::string::npos) return FailureClass::KeyFault;
  if (status == 403) return FailureClass::KeyFault;
  // A per-day quota (QuotaFailure quotaId "…PerDay…") will not pass within a retry: the key's.
  if (status == 429 && body.raw.find("PerDay") != std::string::npos) return FailureClass::KeyFault;
  return Provider::classify(status, body);
}

std::optional<std::chrono::milliseconds> GeminiProvider::retry_hint(const HttpResponse& r) const {
  if (auto d = gemini_retry_delay(r.body)) return d;
  return Provider::retry_hint(r);
}

TextResult GeminiProvider::chat(const ChatCall& call, const std::string& key, const OnText& on_text) {
  const nlohmann::json body = request_body(call);
  if (!on_text) {
    const nlohmann::json j = call_json("POST", model_path(call.model) + ":generateContent", &body, key);
    TextResult r;
    r.text = read_candidate(config_.name, j, r);
    return r;
  }
  GeminiStreamState state;
  SseReader sse([&](const SseEvent& e) { return state.on_data(config_.name, e.data, on_text); });
  call_stream(model_path(call.model) + ":streamGenerateContent?alt=sse", body, key,
              [&](std::string_view bytes) { return sse.feed(bytes); }, {{"Accept", "text/event-stream"}});
  if (!state.cancelled) {
    sse.finish();
    // The stream ends with the connection; its last chunk names why generation ended.
    if (!state.finished && !state.cancelled)
      throw ProviderError(FailureClass::StreamBroken, 0,
                          fmt::format("{}: the stream ended without a finishReason", config_.name));
  }
  return state.result;
}

EmbedResult GeminiProvider::embed(const EmbedCall& call, const std::string& key) {
  const std::string resource = "models/" + (call.model.rfind("models/", 0) == 0 ? call.model.substr(7) : call.model);
  nlohmann::json requests = nlohmann::json::array();
  for (const auto& text : call.inputs) {
    nlohmann::json r{{"model", resource}, {"content", {{"parts", {{{"text", text}}}}}}};
    if (call.dimensions) r["outputDimensionality"] = *call.dimensions;
    requests.push_back(r);
  }
  const nlohmann::json body{{"requests", requests}};
  const nlohmann::json j = call_json("POST", model_path(call.model) + ":batchEmbedContents", &body, key);
  EmbedResult out;
  out.model = call.model;
  auto e = j.find("embeddings");
  if (e == j.end() || !e->is_array() || e->size() != call.inputs.size())
    throw ProviderError(FailureClass::Overloaded, 200,
                        fmt::format("{}: the answer has not one embedding per input", config_.name));
  for (const auto& x : *e) {
    std::vector<float> v;
    if (x.is_object() && x.contains("values") && x["values"].is_array())
      for (const auto& f : x["values"]) v.push_back(f.is_number() ? f.get<float>() : 0.f);
    out.vectors.push_back(std::move(v));
  }
  return out;
}

std::vector<std::string> GeminiProvider::list_models(const std::string& key) {
  const nlohmann::json j = call_json("GET", "/models?pageSize=1000", nullptr, key);
  std::vector<std::string> out;
  if (auto m = j.find("models"); m != j.end() && m->is_array())
    for (const auto& x : *m)
      if (x.is_object()) {
        std::string name = field_or(x, "name", std::string());
        out.push_back(name.rfind("models/", 0) == 0 ? name.substr(7) : name);
      }
  return out;
}

}  // namespace ia::providers
