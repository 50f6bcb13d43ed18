// OpenAI's POST /v1/embeddings and TEI's POST /embed, both through the
// model's EmbeddingService.
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <span>
#include <string_view>

#include <fmt/format.h>

#include "core/base64.h"
#include "preprocess/audio/audio_loader.h"
#include "preprocess/image/image_decoder.h"
#include "router/result_json.h"
#include "server/api_error.h"
#include "server/generation_service.h"
#include "server/route_handler.h"
#include "server/routes.h"

namespace ia::server {

namespace {

// RFC 4648 base64 with padding, as Python's base64.b64decode and the SDKs read it.
std::string padded_base64(const std::vector<float>& values) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
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

// A model with a text tower and a media tower (CLIP: images; CLAP: audio): texts through the
// text tower, media items through the other, both projected and L2-normalized as the model's
// text_embeds / image_embeds / audio_embeds, in input order. Token-id inputs are texts already
// tokenized by the model's tokenizer. `decode` turns an item's bytes into what `embed_media` takes.
struct MultimodalEmbeddings {
  std::vector<std::vector<float>> rows;
  int64_t tokens = 0;
};

template <typename Endpoint, typename Decode, typename EmbedMedia>
MultimodalEmbeddings multimodal_embeddings(ServerState& s, ServedModel& m, const Endpoint& ep, EmbeddingRequest& r,
                                           EmbeddingInput::Kind media_kind, const char* media_name, Decode decode,
                                           EmbedMedia embed_media) {
  const auto arrived = std::chrono::steady_clock::now();
  std::vector<EmbeddingInput> items = std::move(r.multimodal);
  for (auto& t : r.texts) items.push_back(EmbeddingInput{EmbeddingInput::Kind::Text, std::move(t), {}});
  std::vector<std::string> texts;
  std::vector<size_t> text_at, media_at;
  std::vector<decltype(decode(std::string(), std::string()))> media;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string param = fmt::format("input[{}]", i);
    if (items[i].kind == media_kind) {
      media.push_back(decode(items[i].bytes, param));
      media_at.push_back(i);
    } else if (items[i].kind == EmbeddingInput::Kind::Text) {
      texts.push_back(std::move(items[i].text));
      text_at.push_back(i);
    } else {
      throw invalid_field(param, fmt::format("`{}`: model `{}` embeds texts and {} only", param, m.name, media_name));
    }
  }
  const size_t total = items.size() + r.id_lists.size();
  MultimodalEmbeddings out;
  out.rows.resize(total);
  auto take = [&](const Tensor& e, const std::vector<size_t>& at) {
    const int64_t d = e.size(1);
    for (size_t i = 0; i < at.size(); ++i)
      out.rows[at[i]].assign(e.data<float>() + static_cast<int64_t>(i) * d,
                             e.data<float>() + static_cast<int64_t>(i + 1) * d);
  };
  const int64_t vocab = ep.model().vocab_size();
  for (size_t i = 0; i < r.id_lists.size(); ++i)
    for (int32_t id : r.id_lists[i])
      if (id >= vocab)
        throw invalid_field(fmt::format("input[{}]", i),
                            fmt::format("token id {} is outside the vocabulary of {}", id, vocab));
  run_one_at_a_time(s, m, arrived, [&] {
    if (!texts.empty()) {
      for (const auto& e : ep.tokenize(texts)) out.tokens += static_cast<int64_t>(e.ids.size());
      take(ep.text_embeddings(texts, /*normalize=*/true), text_at);
    }
    if (!r.id_lists.empty()) {
      std::vector<size_t> at;
      for (size_t i = 0; i < r.id_lists.size(); ++i) {
        at.push_back(i);
        out.tokens += static_cast<int64_t>(r.id_lists[i].size());
      }
      take(ep.text_embeddings_of_ids(r.id_lists, /*normalize=*/true), at);
    }
    if (!media.empty()) take(embed_media(media), media_at);
    return 0;
  });
  return out;
}

MultimodalEmbeddings image_text_embeddings(ServerState& s, ServedModel& m, EmbeddingRequest& r) {
  image::ImageLimits limits;
  limits.kind = ErrorKind::InvalidArgument;  // every bad upload is the client's
  const ImageTextEndpoint& ep = *m.image_text;
  return multimodal_embeddings(
      s, m, ep, r, EmbeddingInput::Kind::Image, "images",
      [&](const std::string& bytes, const std::string& name) {
        const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
        return image::decode_image_bytes(std::span(p, bytes.size()), name, limits).image;
      },
      [&](const std::vector<image::RgbImage>& images) { return ep.image_embeddings(images, /*normalize=*/true); });
}

// CLAP: each clip decoded (WAV, FLAC, OGG, MP3: the audio front end) and resampled to the
// feature extractor's rate, as `embed --audio` reads a file.
MultimodalEmbeddings audio_text_embeddings(ServerState& s, ServedModel& m, EmbeddingRequest& r) {
  audio::AudioLimits limits;
  limits.kind = ErrorKind::InvalidArgument;
  const AudioTextEndpoint& ep = *m.audio_text;
  return multimodal_embeddings(
      s, m, ep, r, EmbeddingInput::Kind::Audio, "audio",
      [&](const std::string& bytes, const std::string& name) {
        const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
        return audio::load_audio_bytes(std::span(p, bytes.size()), name, ep.sampling_rate(), limits).samples;
      },
      [&](const std::vector<std::vector<float>>& clips) { return ep.audio_embeddings(clips, /*normalize=*/true); });
}

std::string embeddings_json(const ServedModel& m, const std::vector<std::vector<float>>& rows, bool base64,
                            int64_t tokens) {
  std::string json = "{\"object\":\"list\",\"data\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) json += ',';
    json += fmt::format("{{\"object\":\"embedding\",\"index\":{},\"embedding\":", i);
    if (base64) {
      json += '"' + padded_base64(rows[i]) + '"';
    } else {
      router::append_float_array(json, rows[i]);
    }
    json += '}';
  }
  json += "],\"model\":" + nlohmann::json(m.name).dump() +
          fmt::format(",\"usage\":{{\"prompt_tokens\":{},\"total_tokens\":{}}}}}", tokens, tokens);
  return json;
}

void openai_embeddings(ServerState& s, const std::string& body, httplib::Response& res) {
  EmbeddingRequest r = parse_embedding_request(body, s.limits);
  const ServedLease lease = s.model_for(r.model, ModelUse::Embedding);
  ServedModel& m = *lease;
  if (m.embeds_images() || m.embeds_audio()) {
    const int64_t dim =
        m.embeds_images() ? m.image_text->model().projection_dim() : m.audio_text->model().projection_dim();
    if (r.dimensions && *r.dimensions != dim)
      throw invalid_field("dimensions", fmt::format("model `{}` makes {}-dimensional embeddings only", m.name, dim));
    const MultimodalEmbeddings e = m.embeds_images() ? image_text_embeddings(s, m, r) : audio_text_embeddings(s, m, r);
    s.metrics.add(metric::kPromptTokens, {{"model", m.name}}, static_cast<double>(e.tokens));
    send_json(res, embeddings_json(m, e.rows, r.base64, e.tokens));
    return;
  }
  if (!r.multimodal.empty())
    throw invalid_field("input",
                        fmt::format("model `{}` embeds text only; {{\"image\": ...}} inputs need an image-text "
                                    "model (CLIP), {{\"audio\": ...}} inputs an audio-text model (CLAP)",
                                    m.name));
  EmbeddingOptions options;
  options.truncate = false;  // OpenAI refuses an input over the limit rather than cutting it
  const EmbeddingOutcome out = run_embedding(s, m, std::move(r.texts), std::move(r.id_lists), options);
  const Tensor& e = out.result.embeddings;
  const int64_t full = e.size(1);
  const int64_t dims = output_dimensions(m, r, full);
  std::vector<std::vector<float>> rows;
  for (int64_t i = 0; i < e.size(0); ++i) {
    std::vector<float> row(e.data<float>() + i * full, e.data<float>() + i * full + dims);
    if (dims < full && out.result.normalized) {  // a truncated unit vector is made unit again
      double norm = 0;
      for (float v : row) norm += static_cast<double>(v) * v;
      norm = std::sqrt(norm);
      if (norm > 0)
        for (float& v : row) v = static_cast<float>(v / norm);
    }
    rows.push_back(std::move(row));
  }
  int64_t tokens = 0;
  for (int t : out.result.token_counts) tokens += t;
  send_json(res, embeddings_json(m, rows, r.base64, tokens));
}

void tei_embed(ServerState& s, const std::string& body, httplib::Response& res) {
  TeiEmbedRequest r = parse_tei_embed_request(body, s.limits);
  const ServedLease lease = s.model_for(r.model, ModelUse::Embedding);
  ServedModel& m = *lease;
  if (m.embeds_images() || m.embeds_audio())
    throw invalid_field(
        "model", fmt::format("model `{}` is an {}-text model: its text and {} embeddings come "
                             "from /v1/embeddings",
                             m.name, m.embeds_images() ? "image" : "audio", m.embeds_images() ? "image" : "audio"));
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

void local_embeddings(ServerState& s, const std::string& body, httplib::Response& res) {
  openai_embeddings(s, body, res);
}

void add_embedding_routes(httplib::Server& http, ServerState& state) {
  add_post_route(http, state, "/v1/embeddings",
                 [&state](const httplib::Request& req, httplib::Response& res, const std::string& body) {
                   if (!route_embeddings(state, req, body, res)) openai_embeddings(state, body, res);
                 });
  add_post_route(
      http, state, "/embed",
      [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
        tei_embed(state, body, res);
      },
      RouteOptions{.tei_errors = [](const std::string&) { return true; }});
}

}  // namespace ia::server
