#pragma once
// CLAP's input_features as transformers' ClapFeatureExtractor makes them for one clip (its
// _get_input_mel), with one deterministic choice where transformers draws at random:
//
//   clip <= max_length_s * sampling_rate samples (nb_max_samples):
//     padding "repeatpad": the clip tiled floor(nb_max_samples / n) times, then zeros;
//             "repeat":    tiled floor(nb_max_samples / n) + 1 times, cut to nb_max_samples;
//             "pad":       zeros.
//     truncation "rand_trunc": one mel in dB with the Slaney-scale, Slaney-normalised filters
//     (channels = 1); "fusion": the HTK-scale, unnormalised filters' mel, four times (channels = 4).
//   clip longer:
//     "rand_trunc": transformers crops nb_max_samples at a random offset; here at offset 0 (the
//             start, as Whisper keeps the first 30 s), so the same clip always gives the same answer.
//     "fusion": the whole clip's HTK mel; if it has exactly the frames of nb_max_samples, four
//             copies; else [the mel resized to chunk_frames x feature_size (bilinear, as torch's
//             interpolate with align_corners=False), the crops at the first offset of the front
//             third of the possible offsets, the middle offset of the middle third and the last
//             offset of the back third] where transformers picks one at random in each third: the
//             clip's start, middle and end. transformers resizes to 64 mel bins whatever
//             feature_size is (so only 64 works there); here to feature_size.
//   is_longer: whether the clip was longer; with "fusion", transformers marks a random clip of a
//   batch that has none longer, so a single clip is always marked: true.
//
// The spectrogram is log_mel_spectrogram.h's (Hann fft_window_size, hop_length, power 2, 10 log10
// of max(mel, 1e-10)); `top_db` is read but, as in transformers, not applied.
#include <cstdint>
#include <span>
#include <string>

#include "core/tensor.h"
#include "preprocess/audio/feature_extractor_config.h"
#include "preprocess/audio/log_mel_spectrogram.h"

namespace ia::audio {

enum class ClapTruncation { RandTrunc, Fusion };
enum class ClapPadding { RepeatPad, Repeat, Pad };

struct ClapFeatureConfig {
  int64_t feature_size = 64;  // mel bins
  int64_t sampling_rate = 48000;
  int64_t hop_length = 480;
  int64_t max_length_s = 10;
  int64_t fft_window_size = 1024;
  double frequency_min = 0.0;
  double frequency_max = 14000.0;
  ClapTruncation truncation = ClapTruncation::Fusion;
  ClapPadding padding = ClapPadding::RepeatPad;

  int64_t nb_max_samples() const { return max_length_s * sampling_rate; }

  // From the folder's feature extractor config; absent keys take the class defaults above.
  // Unsupported for another extractor or an unknown truncation / padding; Corrupt past bounds.
  static ClapFeatureConfig from(const FeatureExtractorConfig& c);
  static ClapFeatureConfig load(const std::string& model_dir);
};

struct ClapFeatures {
  Tensor input_features;  // f32 [channels, frames, feature_size]; channels 1 (rand_trunc) or 4 (fusion)
  bool is_longer = false;
};

class ClapFeatureExtractor {
 public:
  explicit ClapFeatureExtractor(const ClapFeatureConfig& config);
  static ClapFeatureExtractor load(const std::string& model_dir) {
    return ClapFeatureExtractor(ClapFeatureConfig::load(model_dir));
  }

  const ClapFeatureConfig& config() const { return config_; }
  int sampling_rate() const { return static_cast<int>(config_.sampling_rate); }

  // One clip at sampling_rate(), as above. InvalidArgument when empty.
  ClapFeatures compute(std::span<const float> samples) const;

 private:
  // [frames, feature_size] of the waveform's first `frames` frames.
  Tensor mel(const LogMelSpectrogram& spec, std::span<const float> waveform) const;

  ClapFeatureConfig config_;
  LogMelSpectrogram slaney_;  // rand_trunc
  LogMelSpectrogram htk_;     // fusion
};

}  // namespace ia::audio
