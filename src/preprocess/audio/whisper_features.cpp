#include "preprocess/audio/whisper_features.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/error.h"

namespace ia::audio {

WhisperFeatureConfig WhisperFeatureConfig::from(const FeatureExtractorConfig& c) {
  c.expect_type("WhisperFeatureExtractor");
  WhisperFeatureConfig w;
  w.feature_size = c.int_in("feature_size", w.feature_size, 1, 1024);
  w.sampling_rate = c.int_in("sampling_rate", w.sampling_rate, 1000, 768000);
  w.n_fft = c.int_in("n_fft", w.n_fft, 2, 1 << 16);
  w.hop_length = c.int_in("hop_length", w.hop_length, 1, 1 << 16);
  w.chunk_length = c.int_in("chunk_length", w.chunk_length, 1, 3600);
  w.padding_value = c.float_in("padding_value", w.padding_value, -1e6, 1e6);
  w.return_attention_mask = c.values.get_bool("return_attention_mask", w.return_attention_mask);
  if (c.values.get_float("dither", 0.0) != 0.0)
    fail(ErrorKind::Unsupported, "{}: 'dither' is {}: random noise on every frame is not reproduced here",
         c.values.path(), c.values.get_float("dither", 0.0));
  if (w.n_samples() > (int64_t{1} << 31))
    fail(ErrorKind::Corrupt, "{}: chunk_length {} s at {} Hz is too long a window", c.values.path(), w.chunk_length,
         w.sampling_rate);
  return w;
}

WhisperFeatureConfig WhisperFeatureConfig::load(const std::string& model_dir) {
  return from(load_feature_extractor_config(model_dir));
}

WhisperFeatureExtractor::WhisperFeatureExtractor(const WhisperFeatureConfig& config)
    : config_(config),
      spectrogram_(static_cast<int>(config.n_fft), static_cast<int>(config.hop_length),
                   mel_filter_bank(static_cast<int>(1 + config.n_fft / 2), static_cast<int>(config.feature_size), 0.0,
                                   8000.0, config.sampling_rate, MelNorm::Slaney, MelScale::Slaney),
                   LogMel::Log10) {}

Tensor WhisperFeatureExtractor::compute(std::span<const float> samples) const {
  if (samples.empty()) fail(ErrorKind::InvalidArgument, "Whisper features: the audio has no samples");
  const size_t n = static_cast<size_t>(config_.n_samples());
  if (samples.size() >= n) return finish(samples.first(n));
  std::vector<float> padded(n, static_cast<float>(config_.padding_value));
  std::copy(samples.begin(), samples.end(), padded.begin());
  return finish(padded);
}

Tensor WhisperFeatureExtractor::compute_unpadded(std::span<const float> samples) const {
  if (samples.empty()) fail(ErrorKind::InvalidArgument, "Whisper features: the audio has no samples");
  return finish(samples);
}

Tensor WhisperFeatureExtractor::finish(std::span<const float> waveform) const {
  const int64_t mels = config_.feature_size;
  // log_spec[:, :-1]: every frame but the last.
  const int64_t frames = std::max<int64_t>(spectrogram_.num_frames(static_cast<int64_t>(waveform.size())) - 1, 0);
  Tensor out = Tensor::empty({mels, frames}, DType::F32);
  float* p = out.data<float>();
  spectrogram_.compute(waveform, frames, p, frames, 1);
  const int64_t total = mels * frames;
  if (total == 0) return out;
  const float floor = *std::max_element(p, p + total) - 8.0f;
  for (int64_t i = 0; i < total; ++i) p[i] = (std::max(p[i], floor) + 4.0f) / 4.0f;
  return out;
}

}  // namespace ia::audio
