#include "preprocess/audio/wav2vec2_features.h"

#include <cmath>

#include "core/error.h"

namespace ia::audio {

Wav2Vec2FeatureConfig Wav2Vec2FeatureConfig::from(const FeatureExtractorConfig& c) {
  c.expect_type("Wav2Vec2FeatureExtractor");
  Wav2Vec2FeatureConfig w;
  if (int64_t fs = c.values.get_int("feature_size", 1); fs != 1)
    fail(ErrorKind::Unsupported, "{}: 'feature_size' is {}: only 1 (raw samples) is supported", c.values.path(), fs);
  w.sampling_rate = c.int_in("sampling_rate", w.sampling_rate, 1000, 768000);
  w.do_normalize = c.values.get_bool("do_normalize", w.do_normalize);
  w.return_attention_mask = c.values.get_bool("return_attention_mask", w.return_attention_mask);
  w.padding_value = c.float_in("padding_value", w.padding_value, -1e6, 1e6);
  return w;
}

Wav2Vec2FeatureConfig Wav2Vec2FeatureConfig::load(const std::string& model_dir) {
  return from(load_feature_extractor_config(model_dir));
}

Tensor wav2vec2_input_values(std::span<const float> samples, const Wav2Vec2FeatureConfig& config) {
  if (samples.empty()) fail(ErrorKind::InvalidArgument, "Wav2Vec2 features: the audio has no samples");
  const int64_t n = static_cast<int64_t>(samples.size());
  Tensor out = Tensor::empty({n}, DType::F32);
  float* p = out.data<float>();
  if (!config.do_normalize) {
    for (int64_t i = 0; i < n; ++i) p[i] = samples[static_cast<size_t>(i)];
    return out;
  }
  double sum = 0.0;
  for (float v : samples) sum += v;
  const double mean = sum / static_cast<double>(n);
  double sq = 0.0;
  for (float v : samples) sq += (v - mean) * (v - mean);
  const double var = sq / static_cast<double>(n);
  const double denom = std::sqrt(var + 1e-7);
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>((samples[static_cast<size_t>(i)] - mean) / denom);
  return out;
}

}  // namespace ia::audio
