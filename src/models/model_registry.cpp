#include "models/model_registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace ia {

namespace {

struct FamilyEntry {
  const char* model_type;
  const char* family;
  const char* default_architecture;
  const char* task;
  const char* modality;
  bool implemented;
};

// Types that share an architecture with BERT differ only in weight names and a
// few flags (see models/bert_encoder.cpp); the rest are recognised so users get
// "not implemented yet" instead of "unknown".
constexpr FamilyEntry kFamilies[] = {
    {"bert", "bert", "BertModel", "feature-extraction", "text", true},
    {"roberta", "bert", "RobertaModel", "feature-extraction", "text", true},
    {"xlm-roberta", "bert", "XLMRobertaModel", "feature-extraction", "text", true},
    {"camembert", "bert", "CamembertModel", "feature-extraction", "text", true},
    {"distilbert", "bert", "DistilBertModel", "feature-extraction", "text", true},
    {"gpt2", "gpt2", "GPT2LMHeadModel", "text-generation", "text", true},
    {"llama", "llama", "LlamaForCausalLM", "text-generation", "text", true},
    {"qwen2", "llama", "Qwen2ForCausalLM", "text-generation", "text", true},
    {"qwen3", "llama", "Qwen3ForCausalLM", "text-generation", "text", true},
    {"mistral", "llama", "MistralForCausalLM", "text-generation", "text", true},
    {"t5", "t5", "T5ForConditionalGeneration", "text2text-generation", "text", false},
    {"vit", "vit", "ViTModel", "image-classification", "vision", false},
    {"clip", "clip", "CLIPModel", "zero-shot-image-classification", "multimodal", false},
    {"whisper", "whisper", "WhisperForConditionalGeneration", "automatic-speech-recognition", "audio", false},
    {"wav2vec2", "wav2vec2", "Wav2Vec2ForCTC", "automatic-speech-recognition", "audio", false},
    {"clap", "clap", "ClapModel", "zero-shot-audio-classification", "multimodal", false},
    {"xclip", "xclip", "XCLIPModel", "zero-shot-video-classification", "multimodal", false},
    {"llava", "llava", "LlavaForConditionalGeneration", "image-text-to-text", "multimodal", false},
    {"llava_next", "llava", "LlavaNextForConditionalGeneration", "image-text-to-text", "multimodal", false},
    {"detr", "detr", "DetrForObjectDetection", "object-detection", "vision", false},
};

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
    kind.implemented = f.implemented;
    return kind;
  }
  fail(ErrorKind::Unsupported, "{}: unknown model_type \"{}\" in config.json (known: {})", where, type,
       fmt::join(known_model_types(), ", "));
}

}  // namespace ia
