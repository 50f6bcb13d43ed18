#pragma once
// A model the server answers for: its name, what it can do (generate, or
// embed), its tokenizer and chat template, the context it is held to, and the
// service that runs its requests. Loaded at startup and held by the resource
// pool (runtime/model_pool.h), which may unload it while it is idle and load it
// again for the next request that names it.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/memory_account.h"
#include "core/quantization.h"
#include "runtime/audio_text_endpoint.h"
#include "runtime/embedding_endpoint.h"
#include "runtime/generation.h"
#include "runtime/image_endpoints.h"
#include "runtime/object_detection.h"
#include "runtime/speech_recognizer.h"
#include "runtime/video_endpoints.h"
#include "server/embedding_service.h"
#include "server/generation_service.h"
#include "server/metrics_registry.h"
#include "server/server_options.h"
#include "tokenizers/chat_template/chat_template.h"

namespace ia::server {

struct ServedModel {
  std::string name;    // what clients put in "model"
  std::string source;  // the --model argument
  std::string dir;
  std::string device, dtype;
  int64_t created = 0;                          // seconds since the epoch, when loaded
  std::shared_ptr<Generator> generator;         // decoder models
  std::shared_ptr<EmbeddingEndpoint> embedder;  // embedding models
  std::unique_ptr<GenerationService> generation;
  std::unique_ptr<EmbeddingService> embedding;
  std::shared_ptr<const SpeechRecognizer> speech;  // speech models: /v1/audio/transcriptions
  std::unique_ptr<std::mutex> speech_mu;           // one transcription at a time per model
  // Vision and audio-text models: image classification (/predict), detection (/detect),
  // image-text and audio-text embeddings (/v1/embeddings), zero-shot image (CLIP) and video
  // (X-CLIP) classification.
  std::shared_ptr<ImageClassificationEndpoint> image_classifier;
  std::shared_ptr<ImageTextEndpoint> image_text;
  std::shared_ptr<ObjectDetectionEndpoint> detector;  // /detect
  std::shared_ptr<AudioTextEndpoint> audio_text;      // CLAP: /v1/embeddings with {"audio"} inputs
  std::shared_ptr<VideoTextEndpoint> video_text;      // X-CLIP: /zero-shot-video-classification
  std::unique_ptr<std::mutex> vision_mu;              // one vision request at a time per model
  std::optional<tok::ChatTemplate> chat_template;     // none: chat completions answer 400
  int64_t max_model_len = 0;                          // tokens of prompt + completion (embedding models: of one input)
  // The memory account the pool loaded it under (runtime/model_pool.h): the routes that run it on
  // their own thread (vision, speech) charge it while they do. Null outside a pool.
  std::shared_ptr<MemoryAccount> memory;
  int64_t kv_cache_bytes = 0;  // its KV pool's bytes (generation models)
  // Embedding dimensions a request may ask for (config.json matryoshka_dimensions); empty: only the full one.
  std::vector<int64_t> matryoshka_dimensions;
  bool matryoshka_any = false;  // config.json is_matryoshka: any smaller size

  // Generation, embedding and image-text models (a speech model's CTC vocabulary is not a
  // tok::Tokenizer; an image classifier has none).
  const tok::Tokenizer& tokenizer() const {
    return generator ? generator->tokenizer() : embedder ? embedder->tokenizer() : image_text->tokenizer();
  }
  bool generates() const { return generator != nullptr; }
  bool embeds() const { return embedder != nullptr; }
  bool transcribes() const { return speech != nullptr; }
  bool classifies_images() const { return image_classifier != nullptr; }
  bool embeds_images() const { return image_text != nullptr; }
  bool detects_objects() const { return detector != nullptr; }
  bool embeds_audio() const { return audio_text != nullptr; }
  bool classifies_videos() const { return video_text != nullptr; }
  // "generation", "embeddings", "transcription", "image-classification", "object-detection",
  // "audio-text embeddings", "video-text similarity" or "image-text embeddings".
  const char* serves() const {
    return generates()           ? "generation"
           : embeds()            ? "embeddings"
           : transcribes()       ? "transcription"
           : classifies_images() ? "image-classification"
           : detects_objects()   ? "object-detection"
           : embeds_audio()      ? "audio-text embeddings"
           : classifies_videos() ? "video-text similarity"
                                 : "image-text embeddings";
  }
  // The Hugging Face pipeline task of what it serves (/v1/models' "task"): "text-generation",
  // "feature-extraction", "automatic-speech-recognition", "image-classification",
  // "object-detection", "zero-shot-audio-classification" (CLAP), "zero-shot-video-classification"
  // (X-CLIP) or "zero-shot-image-classification" (CLIP, which also serves image and text
  // embeddings).
  const char* task() const {
    return generates()           ? "text-generation"
           : embeds()            ? "feature-extraction"
           : transcribes()       ? "automatic-speech-recognition"
           : classifies_images() ? "image-classification"
           : detects_objects()   ? "object-detection"
           : embeds_audio()      ? "zero-shot-audio-classification"
           : classifies_videos() ? "zero-shot-video-classification"
                                 : "zero-shot-image-classification";
  }
};

// Where and how a --model loads, decided before anything is loaded (the resource pool's plan):
// its dtype (--low-memory runs a f32 checkpoint in bf16 unless --dtype says f32), its device, and
// estimates of its weights (from the checkpoint's headers) and KV cache (from config.json).
struct ServedModelPlacement {
  DType dtype = DType::F32;
  WeightQuantization quantization;
  DType kv_cache_dtype = DType::F32;  // --kv-cache-dtype (core/kv_quantization.h)
  Device device;
  int64_t weights_bytes = 0;
  int64_t kv_min_bytes = 0;     // one sequence of the context
  int64_t kv_wanted_bytes = 0;  // the KV pool it is configured for
};
ServedModelPlacement place_served_model(const std::string& dir, const ServeOptions& options);

// Sequences of the context a generation model's KV pool holds: --max-num-seqs, or at most
// kLowMemorySequences with --low-memory (more sequences still run; they wait for blocks).
constexpr int64_t kLowMemorySequences = 4;
int64_t kv_sequences(const ServeOptions& options);

// Loads one --model from its folder `dir` (router::resolve_model_dir): a decoder becomes a
// generator (with the folder's chat template when it has one) served by continuous batching (its
// engine's step figures go to `metrics`, which may be null), an encoder or a sentence-transformers
// folder an embedding endpoint. `room` (the resource pool's memory limit, less what other models
// hold there) bounds the weights and the KV pool together; Unavailable, with the sizes, when not
// even one sequence fits beside the weights.
std::unique_ptr<ServedModel> load_served_model(const std::string& source, const std::string& dir,
                                               const std::string& name, const ServedModelPlacement& where,
                                               const ServeOptions& options, MetricsRegistry* metrics = nullptr,
                                               std::optional<int64_t> room = std::nullopt);
// The same, placed as place_served_model says (tests and single loads).
std::unique_ptr<ServedModel> load_served_model(const std::string& source, const std::string& name,
                                               const ServeOptions& options, MetricsRegistry* metrics = nullptr);

// The name a model is served under by default: its folder's name (the CID for IPFS content).
std::string default_served_name(const std::string& source, const std::string& dir);

}  // namespace ia::server
