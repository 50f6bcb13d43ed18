#pragma once
// The one model registry: maps config.json (`model_type`, `architectures`) to
// a family, an architecture, a task and a modality, says whether this build
// can run it, and creates the model behind its interface (CausalLM, Encoder, CtcModel,
// EncoderDecoder).
// Unknown types are a clear error, never a guess.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/audio_text_model.h"
#include "models/causal_lm.h"
#include "models/ctc_model.h"
#include "models/encoder.h"
#include "models/encoder_decoder.h"
#include "models/image_classifier.h"
#include "models/image_text_model.h"
#include "models/video_text_model.h"
#include "models/vision_language.h"

namespace ia {

struct ModelKind {
  std::string model_type;    // config.json model_type, e.g. "bert"
  std::string family;        // our architecture family: "bert", "gpt2", "llama", ...
  std::string architecture;  // first entry of `architectures`, or the family's default
  std::string task;          // "feature-extraction", "text-generation", ...
  std::string modality;      // "text", "vision", "audio", "multimodal"
  bool implemented = false;  // this build has a forward pass for it
};

// Throws ErrorKind::Unsupported naming the type and the known ones when unknown.
ModelKind classify_model(const nlohmann::json& config, const std::string& where);

// All model types the registry knows, for --help and errors.
std::vector<std::string> known_model_types();

// Unsupported (naming the folder, the type and what it is) unless the registry has a
// causal LM / an encoder of this kind in this build: what the loaders below check first,
// and what a runtime type checks before it opens anything.
void require_causal_lm(const ModelKind& kind, const std::string& dir);
void require_encoder(const ModelKind& kind, const std::string& dir);

// Unsupported unless the registry has a CTC speech model (Wav2Vec2ForCTC) of this kind whose task
// is automatic-speech-recognition.
void require_ctc_model(const ModelKind& kind, const std::string& dir);

// Whether this build has an encoder / a causal LM (decoder) / a CTC model / an encoder-decoder for
// the kind's model_type.
bool has_encoder(const ModelKind& kind);
bool has_causal_lm(const ModelKind& kind);
// A vision-language chat model (LLaVA): load_causal_lm gives it as a VisionLanguage.
bool has_vision_language(const ModelKind& kind);
bool has_ctc_model(const ModelKind& kind);
bool has_encoder_decoder(const ModelKind& kind);
// Unsupported (naming the folder and the type) unless the kind generates text in this build: a
// causal LM or an encoder-decoder.
void require_text_generator(const ModelKind& kind, const std::string& dir);

// The vision families: an image classifier (ViT) / an image-text model (CLIP) of this kind in this
// build; require_* is Unsupported naming the folder and the type otherwise.
bool has_image_classifier(const ModelKind& kind);
bool has_image_text_model(const ModelKind& kind);
void require_image_classifier(const ModelKind& kind, const std::string& dir);
void require_image_text_model(const ModelKind& kind, const std::string& dir);
// A video-text model (X-CLIP) of this kind in this build.
bool has_video_text_model(const ModelKind& kind);
void require_video_text_model(const ModelKind& kind, const std::string& dir);

// An audio-text model (CLAP) of this kind in this build; require_* is Unsupported otherwise.
bool has_audio_text_model(const ModelKind& kind);
void require_audio_text_model(const ModelKind& kind, const std::string& dir);

// The model of a config.json behind its interface. Unsupported (naming the
// folder, the type and what it is) when the registry has no such model in this build.
// Each load is a ProgressTask "loading DIR" of the checkpoint bytes read (core/progress.h).
std::unique_ptr<CausalLM> load_causal_lm(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                         Device device);
std::unique_ptr<Encoder> load_encoder(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                      Device device);
// A CTC speech model (audio in, per-frame vocabulary logits out: models/ctc_model.h).
std::unique_ptr<CtcModel> load_ctc_model(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                         Device device);
std::unique_ptr<EncoderDecoder> load_encoder_decoder(const HfConfig& config, const WeightStore& weights,
                                                     DType compute_dtype, Device device);
// pixel_values in, class logits out (models/image_classifier.h).
std::unique_ptr<ImageClassifier> load_image_classifier(const HfConfig& config, const WeightStore& weights,
                                                       DType compute_dtype, Device device);
// Text and image towers in one embedding space (models/image_text_model.h).
std::unique_ptr<ImageTextModel> load_image_text_model(const HfConfig& config, const WeightStore& weights,
                                                      DType compute_dtype, Device device);
// Video and text towers in one embedding space, texts conditioned on the video (models/video_text_model.h).
std::unique_ptr<VideoTextModel> load_video_text_model(const HfConfig& config, const WeightStore& weights,
                                                      DType compute_dtype, Device device);
// Text and audio towers in one embedding space (models/audio_text_model.h).
std::unique_ptr<AudioTextModel> load_audio_text_model(const HfConfig& config, const WeightStore& weights,
                                                      DType compute_dtype, Device device);
// A decoder of the registry behind the Encoder interface (CausalLmEncoder): its final hidden
// states are the token embeddings, as sentence-transformers uses a decoder (Qwen3-Embedding).
// Its LM head is not loaded (nor needed). Unsupported when this build has no causal LM of this kind.
std::unique_ptr<Encoder> load_causal_lm_as_encoder(const HfConfig& config, const WeightStore& weights,
                                                   DType compute_dtype, Device device);

// What a model's weights take on a device once loaded: matrices in the compute dtype, vectors
// (norms, biases) in f32. Every load checks it against the device's share of memory first.
int64_t weights_device_bytes(const WeightStore& weights, DType compute_dtype);
// Unsupported, naming the method, the format and the backend, when `device`'s backend has no
// linear layer for a format the store's matrices load packed in: --quantize's
// (WeightStore::quantization) or a pre-quantized checkpoint's (GPTQ). Nothing for plain loads.
void require_packed_linears(const WeightStore& weights, Device device);

}  // namespace ia
