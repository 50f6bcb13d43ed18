// OpenAI's POST /v1/embeddings and TEI's POST /embed, both through the
// model's EmbeddingService.
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "ipfs/multibase.h"
#include "router/result_json.h"
#include "server/api_error.h"
#include "server/generation_service.h"
#include "server/route_handler.h"
#include "server/routes.h"

namespace ia::server {

namespace {

// RFC 4648 base64 with padding (what Python's base64.b64decode and the SDKs expect): the
// multibase encoder's unpadded text, padded.
std::string padded_base64(const std::vector<float>& values) {
  std::string text =
      ipfs::encode_base(ipfs::Multibase::Base64,
                        ipfs::BytesView(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  text.append((4 - text.size() % 4) % 4, '=');
  return text;
}

EmbeddingOutcome run_embedding(ServerState& s, ServedModel& m, std::vector<std::string> texts,
                               std::vector<std::vector<int32_t>> ids, const EmbeddingOptions& options) {
  EmbeddingOutcome out;
  try {
    out = m.embedding->embed(std::move(texts), std::move(ids), options);
  } catch (const QueueFull&) {
    throw queue_full(m.name);
  }
  const MetricsRegistry::Labels labels{{"model", m.name}};
  s.metrics.observe(metric::kQueueSeconds, labels, out.queue_ms / 1000);
  s.metrics.observe(metric::kTokenizeSeconds, labels, out.result.tokenize_ms / 1000);
  s.metrics.observe(metric::kInferenceSeconds, labels, out.result.inference_ms / 1000);
  int64_t tokens = 0;
  for (int t : out.result.token_counts) tokens += t;
  s.metrics.add(metric::kPromptTokens, labels, static_cast<double>(tokens));
  return out;
}

// The width an embeddings request may ask for: the model's own, or a smaller one where the
// model was trained for truncation (Matryoshka: config.json matryoshka_dimensions / is_matryoshka).
int64_t output_dimensions(const ServedModel& m, const EmbeddingRequest& r, int64_t full) {
  if (!r.dimensions || *r.dimensions == full) return full;
  const int64_t d = *r.dimensions;
  const bool listed =
      std::find(m.matryoshka_dimensions.begin(), m.matryoshka_dimensions.end(), d) != m.matryoshka_dimensions.end();
  if (d < full && (m.matryoshka_any || listed)) return d;
  throw invalid_field("dimensions",
                      fmt::format("model `{}` makes {}-dimensional embeddings and does not support other `dimensions` "
                                  "(no matryoshka_dimensions in its config.json)",
                                  m.name, full));
}

void openai_embeddings(ServerState& s, const std::string& body, httplib::Response& res) {
  EmbeddingRequest r = parse_embedding_request(body, s.limits);
  ServedModel& m = s.model_for(r.model, ModelUse::Embedding);
  EmbeddingOptions options;
  options.truncate = false;  // OpenAI refuses an input over the limit rather than cutting it
  const EmbeddingOutcome out = run_embedding(s, m, std::move(r.texts), std::move(r.id_lists), options);
  const Tensor& e = out.result.embeddings;
  const int64_t full = e.size(1);
  const int64_t dims = output_dimensions(m, r, full);
  std::string json = "{\"object\":\"list\",\"data\":[";
  std::vector<float> row(static_cast<size_t>(dims));
  for (int64_t i = 0; i < e.size(0); ++i) {
    std::memcpy(row.data(), e.data<float>() + i * full, row.size() * sizeof(float));
    if (dims < full && out.result.normalized) {  // a truncated unit vector is made unit again
      double norm = 0;
      for (float v : row) norm += static_cast<double>(v) * v;
      norm = std::sqrt(norm);
      if (norm > 0)
        for (float& v : row) v = static_cast<float>(v / norm);
    }
    if (i > 0) json += ',';
    json += fmt::format("{{\"object\":\"embedding\",\"index\":{},\"embedding\":", i);
    if (r.base64) {
      json += '"' + padded_base64(row) + '"';
    } else {
      router::append_float_array(json, row);
    }
    json += '}';
  }
  int64_t tokens = 0;
  for (int t : out.result.token_counts) tokens += t;
  json += "],\"model\":" + nlohmann::json(m.name).dump() +
          fmt::format(",\"usage\":{{\"prompt_tokens\":{},\"total_tokens\":{}}}}}", tokens, tokens);
  send_json(res, json);
}

void tei_embed(ServerState& s, const std::string& body, httplib::Response& res) {
  TeiEmbedRequest r = parse_tei_embed_request(body, s.limits);
  ServedModel& m = s.model_for(r.model, ModelUse::Embedding);
  EmbeddingOptions options;
  options.truncate = r.truncate;
  options.normalize = r.normalize.value_or(true);  // TEI normalizes unless asked not to
  options.prompt_name = r.prompt_name;
  const EmbeddingOutcome out = run_embedding(s, m, std::move(r.inputs.texts), {}, options);
  const Tensor& e = out.result.embeddings;
  const int64_t d = e.size(1);
  std::string json = "[";
  for (int64_t i = 0; i < e.size(0); ++i) {
    if (i > 0) json += ',';
    router::append_float_array(json, std::vector<float>(e.data<float>() + i * d, e.data<float>() + (i + 1) * d));
  }
  json += ']';
  send_json(res, json);
}

}  // namespace

void add_embedding_routes(httplib::Server& http, ServerState& state) {
  add_post_route(http, state, "/v1/embeddings",
                 [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
                   openai_embeddings(state, body, res);
                 });
  add_post_route(
      http, state, "/embed",
      [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
        tei_embed(state, body, res);
      },
      RouteOptions{.tei_errors = [](const std::string&) { return true; }});
}

}  // namespace ia::server
