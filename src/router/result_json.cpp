#include "router/result_json.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace ia::router {

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string float_json(float v) {
  if (!std::isfinite(v)) return "null";
  return fmt::format("{}", v);  // shortest round-trip form
}

void append_float_array(std::string& out, const std::vector<float>& values) {
  out += '[';
  for (size_t k = 0; k < values.size(); ++k) {
    if (k) out += ',';
    out += float_json(values[k]);
  }
  out += ']';
}

nlohmann::json embed_usage_json(const ipfs_accelerate::EmbedResult& r) {
  int total_tokens = 0;
  for (int n : r.token_counts) total_tokens += n;
  return {{"prompt_tokens", total_tokens}, {"total_tokens", total_tokens}};
}

namespace {

// `head` without its closing brace, for float arrays written after it.
std::string open_object(const nlohmann::json& head) {
  std::string out = dump_json(head);
  out.pop_back();
  return out;
}

}  // namespace

std::string embed_result_json(const ipfs_accelerate::EmbedResult& r) {
  nlohmann::json head;
  head["model"] = r.model;
  head["device"] = r.device;
  head["dtype"] = r.dtype;
  head["pooling"] = r.pooling;
  head["normalized"] = r.normalized;
  head["dimensions"] = r.dimensions;
  head["usage"] = embed_usage_json(r);
  head["timings"] = {{"tokenize_ms", r.tokenize_ms}, {"inference_ms", r.inference_ms}};
  if (!r.warnings.empty()) head["warnings"] = r.warnings;
  // The float arrays go last, written by hand (float_json), before the closing brace.
  std::string out = open_object(head);
  out += ",\"embeddings\":[";
  for (size_t i = 0; i < r.embeddings.size(); ++i) {
    if (i) out += ',';
    append_float_array(out, r.embeddings[i]);
  }
  out += "]}";
  return out;
}

std::string embed_line_json(const ipfs_accelerate::EmbedResult& r, size_t index) {
  nlohmann::json head;
  head["index"] = index;
  head["tokens"] = index < r.token_counts.size() ? r.token_counts[index] : 0;
  if (std::find(r.truncated.begin(), r.truncated.end(), static_cast<int>(index)) != r.truncated.end())
    head["truncated"] = true;
  std::string out = open_object(head);
  out += ",\"embedding\":";
  append_float_array(out, r.embeddings.at(index));
  out += '}';
  return out;
}

nlohmann::json tokenize_result_json(const ipfs_accelerate::TokenizeResult& r) {
  nlohmann::json j;
  j["ids"] = r.ids;
  j["tokens"] = r.tokens;
  j["type_ids"] = r.type_ids;
  nlohmann::json offsets = nlohmann::json::array();
  for (const auto& [start, end] : r.offsets) offsets.push_back({start, end});
  j["offsets"] = offsets;
  return j;
}

nlohmann::json generation_usage_json(const ipfs_accelerate::GenerateResult& r) {
  return {{"prompt_tokens", r.prompt_ids.size()},
          {"completion_tokens", r.ids.size()},
          {"total_tokens", r.prompt_ids.size() + r.ids.size()},
          {"prompt_tokens_details", {{"cached_tokens", r.cached_prompt_tokens}}}};
}

nlohmann::json logprobs_json(const ipfs_accelerate::GenerateResult& r) {
  nlohmann::json lp = nlohmann::json::array();
  for (const auto& t : r.logprobs) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& [id, l] : t.top) top.push_back({{"id", id}, {"logprob", l}});
    lp.push_back({{"id", t.id}, {"logprob", t.logprob}, {"top", top}});
  }
  return lp;
}

namespace {
// No decode step ran (one token, or none): a rate is undefined, not zero.
nlohmann::json decode_rate_json(const ipfs_accelerate::GenerateResult& r) {
  return r.decode_tokens_per_s > 0 ? nlohmann::json(r.decode_tokens_per_s) : nlohmann::json(nullptr);
}
}  // namespace

nlohmann::json generate_result_json(const ipfs_accelerate::GenerateResult& r, bool with_logprobs) {
  nlohmann::json j;
  j["model"] = r.model;
  j["device"] = r.device;
  j["dtype"] = r.dtype;
  j["prompt_ids"] = r.prompt_ids;
  j["ids"] = r.ids;
  j["text"] = r.text;
  j["finish_reason"] = r.finish_reason;
  j["usage"] = generation_usage_json(r);
  j["timings"] = {
      {"prefill_ms", r.prefill_ms}, {"decode_ms", r.decode_ms}, {"decode_tokens_per_s", decode_rate_json(r)}};
  if (with_logprobs) j["logprobs"] = logprobs_json(r);
  if (r.beam_score) j["beam_score"] = *r.beam_score;
  if (!r.warnings.empty()) j["warnings"] = r.warnings;
  return j;
}

nlohmann::json chat_result_json(const ipfs_accelerate::GenerateResult& r, bool with_logprobs) {
  nlohmann::json j = generate_result_json(r, with_logprobs);
  j["message"] = {{"role", "assistant"}, {"content", r.text}};
  return j;
}

namespace {

void append_matrix(std::string& out, const char* key, const std::vector<std::vector<float>>& rows) {
  out += ",\"";
  out += key;
  out += "\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i) out += ',';
    append_float_array(out, rows[i]);
  }
  out += ']';
}

}  // namespace

std::string classify_result_json(const ipfs_accelerate::ClassifyResult& r, size_t index, const std::string& image) {
  nlohmann::json head;
  head["model"] = r.model;
  head["device"] = r.device;
  head["dtype"] = r.dtype;
  if (!image.empty()) head["image"] = image;
  nlohmann::json labels = nlohmann::json::array();
  for (const auto& l : r.labels.at(index)) labels.push_back({{"id", l.id}, {"label", l.label}, {"score", l.score}});
  head["labels"] = labels;
  head["timings"] = {{"decode_ms", r.decode_ms}, {"preprocess_ms", r.preprocess_ms}, {"inference_ms", r.inference_ms}};
  if (!r.warnings.empty()) head["warnings"] = r.warnings;
  std::string out = open_object(head);
  out += ",\"logits\":";
  append_float_array(out, r.logits.at(index));
  out += '}';
  return out;
}

std::string detect_result_json(const ipfs_accelerate::DetectResult& r, size_t index, const std::string& image) {
  nlohmann::json j;
  j["model"] = r.model;
  j["device"] = r.device;
  j["dtype"] = r.dtype;
  if (!image.empty()) j["image"] = image;
  j["width"] = r.image_sizes.at(index).first;
  j["height"] = r.image_sizes.at(index).second;
  j["threshold"] = r.threshold;
  nlohmann::json found = nlohmann::json::array();
  for (const auto& d : r.detections.at(index))
    found.push_back(
        {{"id", d.id}, {"label", d.label}, {"score", d.score}, {"box", {d.box[0], d.box[1], d.box[2], d.box[3]}}});
  j["detections"] = found;
  j["timings"] = {{"decode_ms", r.decode_ms}, {"preprocess_ms", r.preprocess_ms}, {"inference_ms", r.inference_ms}};
  if (!r.warnings.empty()) j["warnings"] = r.warnings;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // labels are the config's bytes
}

namespace {

// The fields before the matrices of a similarity result (image- or video-text): model, device,
// dtype, logit_scale, `extra` (a video result's inputs), usage, timings, warnings.
template <typename Result>
nlohmann::json similarity_head(const Result& r, nlohmann::json extra) {
  nlohmann::json head;
  head["model"] = r.model;
  head["device"] = r.device;
  head["dtype"] = r.dtype;
  head["logit_scale"] = r.logit_scale;
  for (auto& [k, v] : extra.items()) head[k] = std::move(v);
  int tokens = 0;
  for (int n : r.token_counts) tokens += n;
  head["usage"] = {{"prompt_tokens", tokens}, {"total_tokens", tokens}};
  head["timings"] = {{"decode_ms", r.decode_ms},
                     {"tokenize_ms", r.tokenize_ms},
                     {"preprocess_ms", r.preprocess_ms},
                     {"inference_ms", r.inference_ms}};
  if (!r.warnings.empty()) head["warnings"] = r.warnings;
  return head;
}

}  // namespace

std::string similarity_result_json(const ipfs_accelerate::SimilarityResult& r) {
  std::string out = open_object(similarity_head(r, {}));
  append_matrix(out, "logits_per_image", r.logits_per_image);
  append_matrix(out, "probs_per_image", r.probs_per_image);
  append_matrix(out, "text_embeds", r.text_embeds);
  append_matrix(out, "image_embeds", r.image_embeds);
  out += '}';
  return out;
}

std::string video_similarity_result_json(const ipfs_accelerate::VideoSimilarityResult& r) {
  nlohmann::json videos = nlohmann::json::array();
  for (const auto& v : r.videos) {
    nlohmann::json j = {
        {"path", v.path}, {"format", v.format}, {"total_frames", v.total_frames}, {"frame_indices", v.indices}};
    if (!v.codec.empty()) j["codec"] = v.codec;
    if (v.fps > 0) j["fps"] = v.fps;
    videos.push_back(std::move(j));
  }
  std::string out = open_object(similarity_head(r, {{"videos", std::move(videos)}}));
  append_matrix(out, "logits_per_video", r.logits_per_video);
  append_matrix(out, "probs_per_video", r.probs_per_video);
  // [videos][texts][dim]: each video's conditioned text embeddings.
  out += ",\"text_embeds\":[";
  for (size_t v = 0; v < r.text_embeds.size(); ++v) {
    if (v) out += ',';
    out += '[';
    for (size_t t = 0; t < r.text_embeds[v].size(); ++t) {
      if (t) out += ',';
      append_float_array(out, r.text_embeds[v][t]);
    }
    out += ']';
  }
  out += ']';
  append_matrix(out, "video_embeds", r.video_embeds);
  out += '}';
  return out;
}

std::string image_embed_result_json(const ipfs_accelerate::ImageEmbedResult& r) {
  nlohmann::json head;
  head["model"] = r.model;
  head["device"] = r.device;
  head["dtype"] = r.dtype;
  head["normalized"] = r.normalized;
  head["dimensions"] = r.dimensions;
  head["timings"] = {{"decode_ms", r.decode_ms}, {"preprocess_ms", r.preprocess_ms}, {"inference_ms", r.inference_ms}};
  if (!r.warnings.empty()) head["warnings"] = r.warnings;
  std::string out = open_object(head);
  append_matrix(out, "embeddings", r.embeddings);
  out += '}';
  return out;
}

}  // namespace ia::router
