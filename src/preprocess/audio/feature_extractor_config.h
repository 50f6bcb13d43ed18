#pragma once
// Where a model folder keeps its audio feature extractor's settings, found as transformers finds
// them (preprocess/processor_config.h): the object under "feature_extractor" (or
// "audio_processor", the key some processors use) in processor_config.json, else the whole of
// preprocessor_config.json.
//
// Every error names the file (and key): a missing config is NotFound, a value of the wrong type or
// outside the bounds the extractors accept is Corrupt, another extractor's config is Unsupported.
#include <cstdint>
#include <string>

#include "formats/hf_config.h"

namespace ia::audio {

struct FeatureExtractorConfig {
  HfConfig values;   // the settings; values.path() is the file, "processor_config.json:KEY" when nested
  std::string type;  // "feature_extractor_type" ("WhisperFeatureExtractor", ...); "" when absent

  // Unsupported naming the file when another type is configured ("ClapFeatureExtractor" where a
  // "WhisperFeatureExtractor" is wanted), or when the file holds an image processor. An absent type
  // is accepted: transformers takes the class from the caller then.
  void expect_type(const std::string& wanted) const;

  // values' integer `key` (`def` when absent), Corrupt naming file and key when outside [lo, hi].
  int64_t int_in(const std::string& key, int64_t def, int64_t lo, int64_t hi) const;
  // The same for a number.
  double float_in(const std::string& key, double def, double lo, double hi) const;
};

// NotFound "DIR: no audio feature extractor config (...)" when the folder has neither.
FeatureExtractorConfig load_feature_extractor_config(const std::string& model_dir);

}  // namespace ia::audio
