#include "providers/provider.h"

#include <fmt/format.h>

#include "providers/retry_hints.h"

namespace ia::providers {

const char* capability_name(Capability c) {
  switch (c) {
    case Capability::Chat: return "chat";
    case Capability::Completion: return "completion";
    case Capability::Embedding: return "embeddings";
    case Capability::Rerank: return "rerank";
    case Capability::Models: return "models";
    case Capability::Transcription: return "transcription";
  }
  return "unknown";
}

const char* budget_period_name(ProviderConfig::BudgetPeriod p) {
  return p == ProviderConfig::BudgetPeriod::Month ? "month" : "total";
}

TextResult Provider::chat(const ChatCall&, const std::string&, const OnText&) {
  throw_unsupported(Capability::Chat);
}
TextResult Provider::complete(const CompletionCall&, const std::string&, const OnText&) {
  throw_unsupported(Capability::Completion);
}
EmbedResult Provider::embed(const EmbedCall&, const std::string&) {
  throw_unsupported(Capability::Embedding);
}
std::vector<RerankScore> Provider::rerank(const RerankCall&, const std::string&) {
  throw_unsupported(Capability::Rerank);
}
TranscriptionResult Provider::transcribe(const TranscribeCall&, const std::string&, const OnText&) {
  throw_unsupported(Capability::Transcription);
}
std::vector<std::string> Provider::list_models(const std::string&) {
  throw_unsupported(Capability::Models);
}
void Provider::health(const std::string& key) {
  list_models(key);
}

void Provider::throw_unsupported(Capability c) const {
  fail(ErrorKind::Unsupported, "provider `{}` ({}) has no {} API", config_.name, config_.type, capability_name(c));
}

std::vector<std::pair<std::string, std::string>> Provider::auth_headers(const std::string& key) const {
  std::vector<std::pair<std::string, std::string>> h;
  if (!key.empty()) h.emplace_back("Authorization", "Bearer " + key);
  for (const auto& [name, value] : config_.headers) h.emplace_back(name, value);
  return h;
}

FailureClass Provider::classify(int status, const ErrorBody& body) const {
  FailureClass c = classify_status(status);
  // OpenAI: a 429 for an exhausted quota is the key's, not a passing limit.
  if (status == 429 && (body.code == "insufficient_quota" || body.type == "insufficient_quota"))
    return FailureClass::KeyFault;
  return c;
}

std::optional<std::chrono::milliseconds> Provider::retry_hint(const HttpResponse& r) const {
  return retry_hint_from_headers(r.headers, std::chrono::system_clock::now());
}

void Provider::throw_http_error(const HttpResponse& r) const {
  const ErrorBody body = parse_error_body(r.body);
  const FailureClass c = classify(static_cast<int>(r.status), body);
  std::string message = body.message.empty() ? "(no message)" : body.message;
  if (!body.type.empty()) message += " (" + body.type + ")";
  throw ProviderError(c, static_cast<int>(r.status), fmt::format("{}: HTTP {}: {}", config_.name, r.status, message),
                      retry_hint(r));
}

void Provider::throw_transport_error(const HttpOutcome& o) const {
  throw ProviderError(FailureClass::Transient, 0, fmt::format("{}: {}", config_.name, o.error));
}

nlohmann::json Provider::call_json(const std::string& method, const std::string& path, const nlohmann::json* body,
                                   const std::string& key) const {
  HttpRequest req;
  req.method = method;
  req.url = config_.base_url + path;
  req.headers = auth_headers(key);
  if (body) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  const HttpOutcome o = http_send(req, config_.timeouts);
  if (o.response.status != 0 && (o.response.status < 200 || o.response.status >= 300)) throw_http_error(o.response);
  if (o.failure != TransportFailure::None) throw_transport_error(o);
  auto j = nlohmann::json::parse(o.response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    throw ProviderError(FailureClass::Overloaded, static_cast<int>(o.response.status),
                        fmt::format("{}: the answer to {} is not JSON", config_.name, path));
  return j;
}

std::string Provider::call_raw(const std::string& path, const std::string& body, const std::string& content_type,
                               const std::string& key) const {
  HttpRequest req;
  req.method = "POST";
  req.url = config_.base_url + path;
  req.headers = auth_headers(key);
  req.headers.emplace_back("Content-Type", content_type);
  req.body = body;
  HttpOutcome o = http_send(req, config_.timeouts);
  if (o.response.status != 0 && (o.response.status < 200 || o.response.status >= 300)) throw_http_error(o.response);
  if (o.failure != TransportFailure::None) throw_transport_error(o);
  return std::move(o.response.body);
}

void Provider::call_stream(const std::string& path, const nlohmann::json& body, const std::string& key,
                           const std::function<bool(std::string_view)>& on_bytes,
                           const std::vector<std::pair<std::string, std::string>>& extra_headers) const {
  call_stream_raw(
      path, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json", key,
      [&](const HttpResponse&, std::string_view bytes) { return on_bytes(bytes); }, extra_headers);
}

void Provider::call_stream_raw(const std::string& path, std::string body, const std::string& content_type,
                               const std::string& key, const BodySink& on_bytes,
                               const std::vector<std::pair<std::string, std::string>>& extra_headers) const {
  HttpRequest req;
  req.method = "POST";
  req.url = config_.base_url + path;
  req.headers = auth_headers(key);
  req.headers.emplace_back("Content-Type", content_type);
  for (const auto& h : extra_headers) req.headers.push_back(h);
  req.body = std::move(body);
  std::exception_ptr raised;
  bool stopped = false;
  const BodySink sink = [&](const HttpResponse& head, std::string_view bytes) {
    try {
      if (!on_bytes(head, bytes)) {
        stopped = true;
        return false;
      }
      return true;
    } catch (...) {  // never through curl's C frames
      raised = std::current_exception();
      return false;
    }
  };
  const HttpOutcome o = http_send(req, config_.timeouts, sink);
  if (raised) std::rethrow_exception(raised);
  if (o.response.status != 0 && (o.response.status < 200 || o.response.status >= 300)) throw_http_error(o.response);
  if (stopped) return;
  if (o.failure != TransportFailure::None) throw_transport_error(o);
}

FailureClass classify_error_type(const std::string& t) {
  if (t == "invalid_request_error" || t == "not_found_error" || t == "validation" || t == "Validation" ||
      t == "INVALID_ARGUMENT" || t == "NOT_FOUND" || t == "request_too_large" || t == "context_length_exceeded" ||
      t == "BadRequestError" || t == "invalid_argument" || t == "Tokenizer" || t == "Empty")
    return FailureClass::CallerFault;
  if (t == "authentication_error" || t == "permission_error" || t == "billing_error" || t == "insufficient_quota" ||
      t == "invalid_api_key" || t == "PERMISSION_DENIED" || t == "UNAUTHENTICATED")
    return FailureClass::KeyFault;
  if (t == "rate_limit_error" || t == "rate_limit_exceeded" || t == "RESOURCE_EXHAUSTED")
    return FailureClass::RateLimited;
  return FailureClass::Overloaded;  // overloaded_error, api_error, server_error, generation, …
}

}  // namespace ia::providers
