#pragma once
// Wav2Vec2's input_values as transformers' Wav2Vec2FeatureExtractor makes them for one clip: the
// raw samples at sampling_rate, and with do_normalize each clip to zero mean and unit variance,
// (x - mean) / sqrt(var + 1e-7) (the population variance; mean and variance accumulated in double).
// A single clip is never padded, so its attention mask is all ones: `return_attention_mask` says
// whether the model is to be given one (the config's choice, reported for the model loader).
#include <cstdint>
#include <span>
#include <string>

#include "core/tensor.h"
#include "preprocess/audio/feature_extractor_config.h"

namespace ia::audio {

struct Wav2Vec2FeatureConfig {
  int64_t sampling_rate = 16000;
  bool do_normalize = true;
  bool return_attention_mask = false;
  double padding_value = 0.0;

  // From the folder's feature extractor config; absent keys take the class defaults above.
  // Unsupported for another extractor or a feature_size other than 1.
  static Wav2Vec2FeatureConfig from(const FeatureExtractorConfig& c);
  static Wav2Vec2FeatureConfig load(const std::string& model_dir);
};

// f32 [samples.size()]: the samples (at config.sampling_rate), normalised when do_normalize.
// InvalidArgument when empty.
Tensor wav2vec2_input_values(std::span<const float> samples, const Wav2Vec2FeatureConfig& config);

}  // namespace ia::audio
