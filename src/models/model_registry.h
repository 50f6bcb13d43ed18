#pragma once
// The model-family classifier: maps config.json (`model_type`, `architectures`)
// to a family, an architecture, a task and a modality, and says whether this
// build can run it. Unknown types are a clear error, never a guess.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

}  // namespace ia
