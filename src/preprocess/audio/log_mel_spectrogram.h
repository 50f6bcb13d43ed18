#pragma once
// The log-mel spectrogram of transformers' audio_utils.spectrogram as the Whisper and CLAP feature
// extractors call it: a periodic Hann window of n_fft samples (window_function(n_fft, "hann")),
// frame_length = fft_length = n_fft, center=True with reflect padding of n_fft / 2 on each side,
// power 2, the mel filters, max(mel, 1e-10), then log10 (Whisper) or 10 log10 (power_to_db with
// reference 1 and no db_range: CLAP). Computed in double like numpy, each frame's spectrum rounded
// to complex64 where numpy stores it, the result rounded to float32.
#include <cstdint>
#include <span>

#include "preprocess/audio/mel_filter_bank.h"
#include "preprocess/audio/real_fft.h"

namespace ia::audio {

enum class LogMel { Log10, Decibel };

class LogMelSpectrogram {
 public:
  LogMelSpectrogram(int n_fft, int hop_length, MelFilterBank filters, LogMel log);

  int n_fft() const { return fft_.size(); }
  int hop_length() const { return hop_; }
  int num_mel_filters() const { return filters_.num_mel_filters; }
  // Frames of a waveform of n samples: 1 + (n + 2 * (n_fft / 2) - n_fft) / hop.
  int64_t num_frames(int64_t num_samples) const;

  // Frames [0, frames) of `waveform` (frames <= num_frames(waveform.size()), waveform not empty):
  // the value of mel m in frame f goes to out[m * mel_stride + f * frame_stride]. Frames run in
  // parallel on the thread pool.
  void compute(std::span<const float> waveform, int64_t frames, float* out, int64_t mel_stride,
               int64_t frame_stride) const;

 private:
  RealFft fft_;
  int hop_;
  MelFilterBank filters_;
  LogMel log_;
  std::vector<double> window_;
};

}  // namespace ia::audio
