#include "models/model_registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backends/backend.h"
#include "core/error.h"
#include "core/progress.h"
#include "formats/checkpoint_quantization.h"
#include "models/bert_encoder.h"
#include "models/causal_lm_encoder.h"
#include "models/clap.h"
#include "models/clip.h"
#include "models/decoder_lm.h"
#include "models/detr.h"
#include "models/llava.h"
#include "models/t5.h"
#include "models/vit.h"
#include "models/wav2vec2.h"
#include "models/whisper.h"
#include "models/xclip.h"

namespace ia {

namespace {

using CausalLmLoader = std::unique_ptr<CausalLM> (*)(const HfConfig&, const WeightStore&, DType, Device,
                                                     bool with_lm_head);
using EncoderLoader = std::unique_ptr<Encoder> (*)(const HfConfig&, const WeightStore&, DType, Device);
using CtcLoader = std::unique_ptr<CtcModel> (*)(const HfConfig&, const WeightStore&, DType, Device);
using EncoderDecoderLoader = std::unique_ptr<EncoderDecoder> (*)(const HfConfig&, const WeightStore&, DType, Device);
using ImageClassifierLoader = std::unique_ptr<ImageClassifier> (*)(const HfConfig&, const WeightStore&, DType, Device);
using ImageTextLoader = std::unique_ptr<ImageTextModel> (*)(const HfConfig&, const WeightStore&, DType, Device);
using VideoTextLoader = std::unique_ptr<VideoTextModel> (*)(const HfConfig&, const WeightStore&, DType, Device);
using AudioTextLoader = std::unique_ptr<AudioTextModel> (*)(const HfConfig&, const WeightStore&, DType, Device);
using ObjectDetectorLoader = std::unique_ptr<ObjectDetector> (*)(const HfConfig&, const WeightStore&, DType, Device);
using VisionLanguageLoader = std::unique_ptr<VisionLanguage> (*)(const HfConfig&, const WeightStore&, DType, Device);

std::unique_ptr<CausalLM> load_decoder_lm(const HfConfig& c, const WeightStore& w, DType t, Device d, bool head) {
  return DecoderLM::load(c, w, t, d, head);
}
std::unique_ptr<Encoder> load_bert_encoder(const HfConfig& c, const WeightStore& w, DType t, Device d) {
  return BertEncoder::load(c, w, t, d);
}
std::unique_ptr<CtcModel> load_wav2vec2_ctc(const HfConfig& c, const WeightStore& w, DType t, Device d) {
  return Wav2Vec2ForCtc::load(c, w, t, d);
}
std::unique_ptr<EncoderDecoder> load_t5(const HfConfig& c, const WeightStore& w, DType t, Device d) {
  return T5Model::load(c, w, t, d);
}
std::unique_ptr<EncoderDecoder> load_whisper(const HfConfig& c, const WeightStore& w, DType t, Device d) {
  return WhisperModel::load(c, w, t, d);
}
std::unique_ptr<ImageClassifier> load_vit(const HfConfig& c, const WeightStore& w, DType t, Device d) {
  return VitForImageClassification::load(c, w, t, d);
}
std::unique_ptr<ImageTextModel> load_clip(const HfConfig& c, const WeightStore& w, DType t, Device d) {
  return ClipModel::load(c, w, t, d);
}
std::unique_ptr<VideoTextModel> load_xclip(const HfConfig& c, const WeightStore& w, DType t, Device d) {
  return XClipModel::load(c, w, t, d);
}

std::unique_ptr<AudioTextModel> load_clap(const HfConfig& c, const WeightStore& w, DType t, Device d) {
  return ClapModel::load(c, w, t, d);
}
std::unique_ptr<VisionLanguage> load_llava(const HfConfig& c, const WeightStore& w, DType t, Device d) {
  return LlavaModel::load(c, w, t, d);
}

std::unique_ptr<ObjectDetector> load_detr(const HfConfig& c, const WeightStore& w, DType t, Device d) {
  return DetrForObjectDetection::load(c, w, t, d);
}

struct FamilyEntry {
  const char* model_type;
  const char* family;
  const char* default_architecture;
  const char* task;
  const char* modality;
  CausalLmLoader causal_lm;                          // null: not a causal LM in this build
  EncoderLoader encoder;                             // null: not an encoder in this build
  CtcLoader ctc;                                     // null: not a CTC speech model in this build
  EncoderDecoderLoader encoder_decoder = nullptr;    // null: not an encoder-decoder in this build
  ImageClassifierLoader image_classifier = nullptr;  // null: not an image classifier (ViT) in this build
  ImageTextLoader image_text = nullptr;              // null: not an image-text model (CLIP) in this build
  VideoTextLoader video_text = nullptr;              // null: not a video-text model (X-CLIP) in this build
  AudioTextLoader audio_text = nullptr;              // null: not an audio-text model (CLAP) in this build
  ObjectDetectorLoader object_detector = nullptr;    // null: not an object detector (DETR) in this build
  VisionLanguageLoader vision_language = nullptr;    // null: not a vision-language chat model (LLaVA) in this build
};

// Types that share an architecture differ only in weight names and a few
// properties (models/bert_encoder.cpp, models/decoder_lm.cpp); the rest are
// recognised so users get "not implemented yet" instead of "unknown".
constexpr FamilyEntry kFamilies[] = {
    {"bert", "bert", "BertModel", "feature-extraction", "text", nullptr, load_bert_encoder, nullptr},
    {"roberta", "bert", "RobertaModel", "feature-extraction", "text", nullptr, load_bert_encoder, nullptr},
    {"xlm-roberta", "bert", "XLMRobertaModel", "feature-extraction", "text", nullptr, load_bert_encoder, nullptr},
    {"camembert", "bert", "CamembertModel", "feature-extraction", "text", nullptr, load_bert_encoder, nullptr},
    {"distilbert", "bert", "DistilBertModel", "feature-extraction", "text", nullptr, load_bert_encoder, nullptr},
    {"gpt2", "gpt2", "GPT2LMHeadModel", "text-generation", "text", load_decoder_lm, nullptr, nullptr},
    {"llama", "llama", "LlamaForCausalLM", "text-generation", "text", load_decoder_lm, nullptr, nullptr},
    {"qwen2", "llama", "Qwen2ForCausalLM", "text-generation", "text", load_decoder_lm, nullptr, nullptr},
    {"qwen3", "llama", "Qwen3ForCausalLM", "text-generation", "text", load_decoder_lm, nullptr, nullptr},
    {"mistral", "llama", "MistralForCausalLM", "text-generation", "text", load_decoder_lm, nullptr, nullptr},
    {"t5", "t5", "T5ForConditionalGeneration", "text2text-generation", "text", nullptr, nullptr, nullptr, load_t5},
    {"mt5", "t5", "MT5ForConditionalGeneration", "text2text-generation", "text", nullptr, nullptr, nullptr, load_t5},
    {"vit", "vit", "ViTForImageClassification", "image-classification", "vision", nullptr, nullptr, nullptr, nullptr,
     load_vit},
    {"clip", "clip", "CLIPModel", "zero-shot-image-classification", "multimodal", nullptr, nullptr, nullptr, nullptr,
     nullptr, load_clip},
    {"whisper", "whisper", "WhisperForConditionalGeneration", "automatic-speech-recognition", "audio", nullptr, nullptr,
     nullptr, load_whisper},
    {"wav2vec2", "wav2vec2", "Wav2Vec2ForCTC", "automatic-speech-recognition", "audio", nullptr, nullptr,
     load_wav2vec2_ctc},
    {"clap", "clap", "ClapModel", "zero-shot-audio-classification", "multimodal", nullptr, nullptr, nullptr, nullptr,
     nullptr, nullptr, nullptr, load_clap},
    {"xclip", "xclip", "XCLIPModel", "zero-shot-video-classification", "multimodal", nullptr, nullptr, nullptr, nullptr,
     nullptr, nullptr, load_xclip},
    {"llava", "llava", "LlavaForConditionalGeneration", "image-text-to-text", "multimodal", nullptr, nullptr, nullptr,
     nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, load_llava},
    {"llava_next", "llava", "LlavaNextForConditionalGeneration", "image-text-to-text", "multimodal", nullptr, nullptr,
     nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, load_llava},
    {"detr", "detr", "DetrForObjectDetection", "object-detection", "vision", nullptr, nullptr, nullptr, nullptr,
     nullptr, nullptr, nullptr, nullptr, load_detr},
};

const FamilyEntry& entry_for(const std::string& type) {
  for (const auto& f : kFamilies)
    if (type == f.model_type) return f;
  IA_CHECK(false, "model registry: no entry for \"{}\"", type);
  return kFamilies[0];
}

// The task an `architectures` entry implies, where it is more specific than the family default.
std::string task_from_architecture(const std::string& arch, const std::string& fallback) {
  auto ends_with = [&](const char* suffix) {
    std::string s(suffix);
    return arch.size() >= s.size() && arch.compare(arch.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with("ForMaskedLM")) return "fill-mask";
  if (ends_with("ForSequenceClassification")) return "text-classification";
  if (ends_with("ForTokenClassification")) return "token-classification";
  if (ends_with("ForQuestionAnswering")) return "question-answering";
  if (ends_with("ForCausalLM") || ends_with("LMHeadModel")) return "text-generation";
  if (ends_with("ForImageClassification")) return "image-classification";
  if (ends_with("ForCTC")) return "automatic-speech-recognition";
  return fallback;
}

}  // namespace

std::vector<std::string> known_model_types() {
  std::vector<std::string> out;
  for (const auto& f : kFamilies) out.emplace_back(f.model_type);
  return out;
}

ModelKind classify_model(const nlohmann::json& config, const std::string& where) {
  if (!config.is_object()) fail(ErrorKind::Corrupt, "{}: config.json is not a JSON object", where);
  auto it = config.find("model_type");
  if (it == config.end() || !it->is_string()) {
    fail(ErrorKind::Corrupt, "{}: config.json has no string \"model_type\"", where);
  }
  std::string type = it->get<std::string>();
  for (const auto& f : kFamilies) {
    if (type != f.model_type) continue;
    ModelKind kind;
    kind.model_type = type;
    kind.family = f.family;
    kind.architecture = f.default_architecture;
    auto arch = config.find("architectures");
    if (arch != config.end() && arch->is_array() && !arch->empty() && (*arch)[0].is_string()) {
      kind.architecture = (*arch)[0].get<std::string>();
    }
    kind.task = task_from_architecture(kind.architecture, f.task);
    if (kind.family == "bert" && kind.task != "fill-mask" && kind.task != "text-classification" &&
        kind.task != "token-classification" && kind.task != "question-answering") {
      kind.task = "feature-extraction";
    }
    kind.modality = f.modality;
    kind.implemented = f.causal_lm || f.encoder || f.ctc || f.encoder_decoder || f.image_classifier || f.image_text ||
                       f.video_text || f.audio_text || f.object_detector || f.vision_language;
    return kind;
  }
  fail(ErrorKind::Unsupported, "{}: unknown model_type \"{}\" in config.json (known: {})", where, type,
       fmt::join(known_model_types(), ", "));
}

void require_causal_lm(const ModelKind& kind, const std::string& dir) {
  if (has_vision_language(kind)) return;  // a vision-language model generates text (with or without images)
  if (!entry_for(kind.model_type).causal_lm || kind.task != "text-generation")
    fail(ErrorKind::Unsupported, "{}: model_type \"{}\" ({}) cannot generate text in this build", dir, kind.model_type,
         kind.architecture);
}

void require_encoder(const ModelKind& kind, const std::string& dir) {
  if (!entry_for(kind.model_type).encoder)
    fail(ErrorKind::Unsupported, "{}: model_type \"{}\" ({} family, {}) cannot produce text embeddings yet", dir,
         kind.model_type, kind.family, kind.task);
}

bool has_encoder(const ModelKind& kind) {
  return entry_for(kind.model_type).encoder != nullptr;
}

bool has_causal_lm(const ModelKind& kind) {
  return entry_for(kind.model_type).causal_lm != nullptr || has_vision_language(kind);
}

bool has_vision_language(const ModelKind& kind) {
  return entry_for(kind.model_type).vision_language != nullptr;
}

void require_ctc_model(const ModelKind& kind, const std::string& dir) {
  if (!entry_for(kind.model_type).ctc || kind.task != "automatic-speech-recognition")
    fail(ErrorKind::Unsupported, "{}: model_type \"{}\" ({}) is not a CTC speech recognition model this build runs",
         dir, kind.model_type, kind.architecture);
}

bool has_ctc_model(const ModelKind& kind) {
  return entry_for(kind.model_type).ctc != nullptr;
}

bool has_image_classifier(const ModelKind& kind) {
  return entry_for(kind.model_type).image_classifier != nullptr;
}

bool has_image_text_model(const ModelKind& kind) {
  return entry_for(kind.model_type).image_text != nullptr;
}

void require_image_classifier(const ModelKind& kind, const std::string& dir) {
  if (!has_image_classifier(kind))
    fail(ErrorKind::Unsupported, "{}: model_type \"{}\" ({} family, {}) is not an image classifier this build runs",
         dir, kind.model_type, kind.family, kind.task);
}

void require_image_text_model(const ModelKind& kind, const std::string& dir) {
  if (!has_image_text_model(kind))
    fail(ErrorKind::Unsupported,
         "{}: model_type \"{}\" ({} family, {}) is not an image-text model (CLIP) this build runs", dir,
         kind.model_type, kind.family, kind.task);
}

bool has_video_text_model(const ModelKind& kind) {
  return entry_for(kind.model_type).video_text != nullptr;
}

void require_video_text_model(const ModelKind& kind, const std::string& dir) {
  if (!has_video_text_model(kind))
    fail(ErrorKind::Unsupported,
         "{}: model_type \"{}\" ({} family, {}) is not a video-text model (X-CLIP) this build runs", dir,
         kind.model_type, kind.family, kind.task);
}

bool has_audio_text_model(const ModelKind& kind) {
  return entry_for(kind.model_type).audio_text != nullptr;
}

void require_audio_text_model(const ModelKind& kind, const std::string& dir) {
  if (!has_audio_text_model(kind))
    fail(ErrorKind::Unsupported,
         "{}: model_type \"{}\" ({} family, {}) is not an audio-text model (CLAP) this build runs", dir,
         kind.model_type, kind.family, kind.task);
}

bool has_object_detector(const ModelKind& kind) {
  return entry_for(kind.model_type).object_detector != nullptr;
}

void require_object_detector(const ModelKind& kind, const std::string& dir) {
  if (!has_object_detector(kind))
    fail(ErrorKind::Unsupported, "{}: model_type \"{}\" ({} family, {}) is not an object detector this build runs", dir,
         kind.model_type, kind.family, kind.task);
}

bool has_encoder_decoder(const ModelKind& kind) {
  return entry_for(kind.model_type).encoder_decoder != nullptr;
}

void require_text_generator(const ModelKind& kind, const std::string& dir) {
  if (has_encoder_decoder(kind) && kind.task == "text2text-generation") return;
  require_causal_lm(kind, dir);
}

namespace {

// A load: first the check that the weights fit the device's share of memory (nothing allocated
// otherwise), then the load with its progress (the checkpoint bytes its layers have read and
// converted, of all the store holds). A failed load on a GPU gives back what it had allocated.
template <typename Load>
auto with_load_progress(const WeightStore& weights, DType compute_dtype, Device device, Load load) {
  require_device_room(device, weights_device_bytes(weights, compute_dtype),
                      fmt::format("the weights of {}", weights.dir()));
  ProgressTask task(fmt::format("loading {}", weights.dir()), weights.total_bytes(), ProgressUnit::Bytes);
  weights.report_reads_to(&task);
  struct StopReporting {
    const WeightStore& weights;
    ~StopReporting() { weights.report_reads_to(nullptr); }
  } stop{weights};
  try {
    auto model = load();
    task.finish();
    return model;
  } catch (...) {
    if (!device.is_cpu()) backend_for(device).release_cached_memory();
    throw;
  }
}

}  // namespace

int64_t weights_device_bytes(const WeightStore& weights, DType compute_dtype) {
  int64_t bytes = 0;
  const WeightQuantization& q = weights.quantization();
  for (const auto& name : weights.names()) {
    const TensorInfo& t = weights.info(name);
    if (q.enabled() && t.shape.size() == 2 && t.shape[1] > 0) {
      bytes += t.shape[0] * quantized_row_bytes(q.layer_format(t.shape[1]), t.shape[1]);  // packed (an estimate)
      continue;
    }
    bytes += t.numel() * static_cast<int64_t>(t.shape.size() >= 2 ? dtype_size(compute_dtype) : sizeof(float));
  }
  return bytes;
}

void require_packed_linears(const WeightStore& weights, Device device) {
  const WeightQuantization& q = weights.quantization();
  const CheckpointQuantization* checkpoint = weights.checkpoint_quantization();
  if (!q.enabled() && !checkpoint) return;
  Backend& be = backend_for(device);
  if (q.enabled())
    for (DType t : {*q.layers, *q.head, DType::Q8})
      if (!be.supports(OpKind::Linear, t))
        fail(ErrorKind::Unsupported,
             "--quantize {}: the {} backend ({}) has no linear layer for {} weights (use --device cpu)", q.method,
             device.str(), be.name(), dtype_name(t));
  if (checkpoint)
    if (const DType t = checkpoint->packed_format(); !be.supports(OpKind::Linear, t))
      fail(ErrorKind::Unsupported,
           "{}: a {} checkpoint loads packed, and the {} backend ({}) has no linear layer for {} weights (use "
           "--device cpu)",
           weights.dir(), checkpoint->method, device.str(), be.name(), dtype_name(t));
}

std::unique_ptr<CausalLM> load_causal_lm(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                         Device device) {
  const ModelKind kind = classify_model(config.json(), config.path());
  require_causal_lm(kind, weights.dir());
  return with_load_progress(weights, compute_dtype, device, [&]() -> std::unique_ptr<CausalLM> {
    const FamilyEntry& f = entry_for(kind.model_type);
    if (f.vision_language) return f.vision_language(config, weights, compute_dtype, device);
    return f.causal_lm(config, weights, compute_dtype, device, true);
  });
}

std::unique_ptr<Encoder> load_encoder(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                      Device device) {
  const ModelKind kind = classify_model(config.json(), config.path());
  require_encoder(kind, weights.dir());
  return with_load_progress(weights, compute_dtype, device,
                            [&] { return entry_for(kind.model_type).encoder(config, weights, compute_dtype, device); });
}

std::unique_ptr<CtcModel> load_ctc_model(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                         Device device) {
  const ModelKind kind = classify_model(config.json(), config.path());
  require_ctc_model(kind, weights.dir());
  return with_load_progress(weights, compute_dtype, device,
                            [&] { return entry_for(kind.model_type).ctc(config, weights, compute_dtype, device); });
}

std::unique_ptr<EncoderDecoder> load_encoder_decoder(const HfConfig& config, const WeightStore& weights,
                                                     DType compute_dtype, Device device) {
  const ModelKind kind = classify_model(config.json(), config.path());
  if (!has_encoder_decoder(kind))
    fail(ErrorKind::Unsupported, "{}: model_type \"{}\" ({}) is not an encoder-decoder this build can run",
         weights.dir(), kind.model_type, kind.architecture);
  return with_load_progress(weights, compute_dtype, device, [&] {
    return entry_for(kind.model_type).encoder_decoder(config, weights, compute_dtype, device);
  });
}

std::unique_ptr<ImageClassifier> load_image_classifier(const HfConfig& config, const WeightStore& weights,
                                                       DType compute_dtype, Device device) {
  const ModelKind kind = classify_model(config.json(), config.path());
  require_image_classifier(kind, weights.dir());
  return with_load_progress(weights, compute_dtype, device, [&] {
    return entry_for(kind.model_type).image_classifier(config, weights, compute_dtype, device);
  });
}

std::unique_ptr<ImageTextModel> load_image_text_model(const HfConfig& config, const WeightStore& weights,
                                                      DType compute_dtype, Device device) {
  const ModelKind kind = classify_model(config.json(), config.path());
  require_image_text_model(kind, weights.dir());
  return with_load_progress(weights, compute_dtype, device, [&] {
    return entry_for(kind.model_type).image_text(config, weights, compute_dtype, device);
  });
}

std::unique_ptr<VideoTextModel> load_video_text_model(const HfConfig& config, const WeightStore& weights,
                                                      DType compute_dtype, Device device) {
  const ModelKind kind = classify_model(config.json(), config.path());
  require_video_text_model(kind, weights.dir());
  return with_load_progress(weights, compute_dtype, device, [&] {
    return entry_for(kind.model_type).video_text(config, weights, compute_dtype, device);
  });
}

std::unique_ptr<AudioTextModel> load_audio_text_model(const HfConfig& config, const WeightStore& weights,
                                                      DType compute_dtype, Device device) {
  const ModelKind kind = classify_model(config.json(), config.path());
  require_audio_text_model(kind, weights.dir());
  return with_load_progress(weights, compute_dtype, device, [&] {
    return entry_for(kind.model_type).audio_text(config, weights, compute_dtype, device);
  });
}

std::unique_ptr<ObjectDetector> load_object_detector(const HfConfig& config, const WeightStore& weights,
                                                     DType compute_dtype, Device device) {
  const ModelKind kind = classify_model(config.json(), config.path());
  require_object_detector(kind, weights.dir());
  return with_load_progress(weights, compute_dtype, device, [&] {
    return entry_for(kind.model_type).object_detector(config, weights, compute_dtype, device);
  });
}

std::unique_ptr<Encoder> load_causal_lm_as_encoder(const HfConfig& config, const WeightStore& weights,
                                                   DType compute_dtype, Device device) {
  const ModelKind kind = classify_model(config.json(), config.path());
  if (!entry_for(kind.model_type).causal_lm)
    fail(ErrorKind::Unsupported, "{}: model_type \"{}\" ({}) is not a decoder this build can run", weights.dir(),
         kind.model_type, kind.architecture);
  return with_load_progress(weights, compute_dtype, device, [&] {
    return std::make_unique<CausalLmEncoder>(
        entry_for(kind.model_type).causal_lm(config, weights, compute_dtype, device, false));
  });
}

}  // namespace ia
