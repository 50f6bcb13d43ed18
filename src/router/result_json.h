#pragma once
// JSON of the public result types, written once for every edge: the CLI
// prints these objects, the HTTP server builds its responses from them and
// their parts (usage, timings, logprobs, float arrays).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ipfs_accelerate/accelerator.h"

namespace ia::router {

// Text a model made may hold partial UTF-8 (random or tiny models): invalid
// bytes become U+FFFD instead of throwing.
std::string dump_json(const nlohmann::json& j);

// A float in its shortest form that reads back to the same float ("null" for
// NaN or infinity, which JSON lacks). nlohmann::json would print the double
// the float widens to (0.1f as 0.10000000149011612).
std::string float_json(float v);
// "[f0,f1,…]" of float_json values, appended to `out`.
void append_float_array(std::string& out, const std::vector<float>& values);

// {"prompt_tokens", "total_tokens"}: every text's tokens, special tokens included.
nlohmann::json embed_usage_json(const ipfs_accelerate::EmbedResult& r);
// {model, device, dtype, pooling, normalized, dimensions, usage, timings,
// warnings (when any), embeddings}, no trailing newline.
std::string embed_result_json(const ipfs_accelerate::EmbedResult& r);
// One text's line of `embed --jsonl`: {index, tokens, truncated (only when true), embedding},
// no trailing newline.
std::string embed_line_json(const ipfs_accelerate::EmbedResult& r, size_t index);

// Image `index` of a classification: {model, device, dtype, image (when given), logits,
// labels: [{id, label, score}, …] (highest first), timings: {decode_ms, preprocess_ms,
// inference_ms} (the call's), warnings (when any)}, no trailing newline.
std::string classify_result_json(const ipfs_accelerate::ClassifyResult& r, size_t index, const std::string& image);
// Image `index` of a detection: {model, device, dtype, image (when given), width, height,
// threshold, detections: [{id, label, score, box: [x0, y0, x1, y1]}, …] (highest score first),
// timings (the call's), warnings (when any)}, no trailing newline.
std::string detect_result_json(const ipfs_accelerate::DetectResult& r, size_t index, const std::string& image);
// {model, device, dtype, logit_scale, logits_per_image, probs_per_image, usage: {prompt_tokens,
// total_tokens}, timings, warnings (when any), text_embeds, image_embeds}, no trailing newline.
std::string similarity_result_json(const ipfs_accelerate::SimilarityResult& r);
std::string video_similarity_result_json(const ipfs_accelerate::VideoSimilarityResult& r);
// {model, device, dtype, normalized, dimensions, timings, warnings (when any), embeddings}.
std::string image_embed_result_json(const ipfs_accelerate::ImageEmbedResult& r);

// {ids, tokens, type_ids, offsets: [[start, end], …]}.
nlohmann::json tokenize_result_json(const ipfs_accelerate::TokenizeResult& r);

// OpenAI's usage object: {prompt_tokens, completion_tokens, total_tokens,
// prompt_tokens_details: {cached_tokens}} (cached_tokens: prompt tokens a chat
// session took from its KV cache instead of prefilling; 0 for generate).
nlohmann::json generation_usage_json(const ipfs_accelerate::GenerateResult& r);
// [{id, logprob, top: [{id, logprob}, …]}, …], one per generated token.
nlohmann::json logprobs_json(const ipfs_accelerate::GenerateResult& r);
// The one shape of a generation, `generate --json` and `chat --json` alike:
// {model, device, dtype, prompt_ids, ids, text, finish_reason, usage,
// timings: {prefill_ms, decode_ms, decode_tokens_per_s (null when no decode step ran)}, logprobs (when
// `with_logprobs`), warnings (when any)}.
nlohmann::json generate_result_json(const ipfs_accelerate::GenerateResult& r, bool with_logprobs);
// One chat reply: generate_result_json plus what is chat's own, the reply as a
// message: {…, message: {role: "assistant", content: text}}.
nlohmann::json chat_result_json(const ipfs_accelerate::GenerateResult& r, bool with_logprobs = false);

}  // namespace ia::router
