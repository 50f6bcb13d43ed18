#pragma once
// Whisper's input_features: the log-mel spectrogram transformers' WhisperFeatureExtractor makes
// (its numpy path, _np_extract_fbank_features): the clip padded with padding_value or truncated to
// n_samples = chunk_length * sampling_rate (30 s), the spectrogram of log_mel_spectrogram.h (Hann
// n_fft, hop_length, Slaney mel filters from 0 to 8000 Hz, log10), its last frame dropped, floored at
// its maximum - 8, then (x + 4) / 4.
//
//   WhisperFeatureExtractor fe = WhisperFeatureExtractor::load(model_dir);
//   AudioClip clip = load_audio_file(path, fe.sampling_rate());   // audio_loader.h
//   Tensor features = fe.compute(clip.samples);                   // f32 [80, 3000]
//
// One extractor serves any number of threads at once (compute is const).
#include <cstdint>
#include <span>
#include <string>

#include "core/tensor.h"
#include "preprocess/audio/feature_extractor_config.h"
#include "preprocess/audio/log_mel_spectrogram.h"

namespace ia::audio {

struct WhisperFeatureConfig {
  int64_t feature_size = 80;  // mel bins
  int64_t sampling_rate = 16000;
  int64_t hop_length = 160;
  int64_t chunk_length = 30;  // seconds
  int64_t n_fft = 400;
  double padding_value = 0.0;
  bool return_attention_mask = false;

  int64_t n_samples() const { return chunk_length * sampling_rate; }
  int64_t nb_max_frames() const { return n_samples() / hop_length; }

  // From preprocessor_config.json / processor_config.json (feature_extractor_config.h); absent keys
  // take the class defaults above. Unsupported for another extractor's config or a non-zero
  // `dither` (random noise transformers adds to every frame: not reproducible); Corrupt for values
  // outside sane bounds.
  static WhisperFeatureConfig from(const FeatureExtractorConfig& c);
  static WhisperFeatureConfig load(const std::string& model_dir);
};

class WhisperFeatureExtractor {
 public:
  explicit WhisperFeatureExtractor(const WhisperFeatureConfig& config);
  static WhisperFeatureExtractor load(const std::string& model_dir) {
    return WhisperFeatureExtractor(WhisperFeatureConfig::load(model_dir));
  }

  const WhisperFeatureConfig& config() const { return config_; }
  int sampling_rate() const { return static_cast<int>(config_.sampling_rate); }

  // What WhisperFeatureExtractor(samples, sampling_rate=sampling_rate()) returns as input_features
  // for one clip (padding="max_length", truncation=True): f32 [feature_size, nb_max_frames]. The
  // samples must be at sampling_rate() (audio_loader.h resamples); InvalidArgument when empty.
  Tensor compute(std::span<const float> samples) const;

  // The whole clip, neither padded nor truncated, as transformers' long-form transcription asks
  // for it (truncation=False, padding="longest"): f32 [feature_size, samples / hop_length], the
  // max - 8 floor over all of it. InvalidArgument when empty.
  Tensor compute_unpadded(std::span<const float> samples) const;

 private:
  Tensor finish(std::span<const float> waveform) const;

  WhisperFeatureConfig config_;
  LogMelSpectrogram spectrogram_;
};

}  // namespace ia::audio
