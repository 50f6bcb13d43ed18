#include "providers/tei_provider.h"
#include "providers/json_fields.h"

#include <fmt/format.h>

namespace ia::providers {

FailureClass TeiProvider::classify(int status, const ErrorBody& body) const {
  if (status == 424) return FailureClass::CallerFault;  // the route does not fit the loaded model's type
  return Provider::classify(status, body);
}

EmbedResult TeiProvider::embed(const EmbedCall& call, const std::string& key) {
  nlohmann::json body{{"inputs", call.inputs}, {"normalize", true}};
  if (call.dimensions) body["dimensions"] = *call.dimensions;
  const nlohmann::json j = call_json("POST", "/embed", &body, key);
  if (!j.is_array() || j.size() != call.inputs.size())
    throw ProviderError(FailureClass::Overloaded, 200,
                        fmt::format("{}: the answer has not one embedding per input", config_.name));
  EmbedResult r;
  r.model = call.model;
  for (const auto& v : j) {
    std::vector<float> vec;
    if (v.is_array())
      for (const auto& x : v) vec.push_back(x.is_number() ? x.get<float>() : 0.f);
    r.vectors.push_back(std::move(vec));
  }
  return r;
}

std::vector<RerankScore> TeiProvider::rerank(const RerankCall& call, const std::string& key) {
  const nlohmann::json body{{"query", call.query}, {"texts", call.documents}};
  const nlohmann::json j = call_json("POST", "/rerank", &body, key);
  if (!j.is_array())
    throw ProviderError(FailureClass::Overloaded, 200, fmt::format("{}: a malformed rerank answer", config_.name));
  std::vector<RerankScore> out;
  for (const auto& x : j) {
    if (!x.is_object()) continue;
    const size_t i = field_or(x, "index", size_t{0});
    if (i >= call.documents.size())
      throw ProviderError(FailureClass::Overloaded, 200, fmt::format("{}: a rerank index out of range", config_.name));
    out.push_back({i, field_or(x, "score", 0.0)});
  }
  return out;
}

std::vector<std::string> TeiProvider::list_models(const std::string& key) {
  const nlohmann::json j = call_json("GET", "/info", nullptr, key);
  return {field_or(j, "model_id", std::string())};
}

void TeiProvider::health(const std::string& key) {
  list_models(key);
}

}  // namespace ia::providers
