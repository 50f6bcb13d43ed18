#include "preprocess/audio/log_mel_spectrogram.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::audio {

namespace {

// numpy.pad(x, p, mode="reflect"): the signal mirrored about its first and last samples (edges
// not repeated), as often as the padding needs.
int64_t reflect_index(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

}  // namespace

LogMelSpectrogram::LogMelSpectrogram(int n_fft, int hop_length, MelFilterBank filters, LogMel log)
    : fft_(n_fft), hop_(hop_length), filters_(std::move(filters)), log_(log) {
  if (hop_length < 1) fail(ErrorKind::InvalidArgument, "spectrogram: hop_length {} < 1", hop_length);
  if (filters_.num_frequency_bins != fft_.bins())
    fail(ErrorKind::InvalidArgument, "spectrogram: {} mel filter bins for an FFT of {} ({} bins)",
         filters_.num_frequency_bins, n_fft, fft_.bins());
  // np.hanning(n_fft + 1)[:-1]: 0.5 + 0.5 cos(pi k / M) for k = 1 - M, 3 - M, ..., M - 1 (M = n_fft).
  window_.resize(static_cast<size_t>(n_fft));
  for (int j = 0; j < n_fft; ++j) {
    const double k = static_cast<double>(-n_fft + 2 * j);
    window_[static_cast<size_t>(j)] = 0.5 + 0.5 * std::cos(std::numbers::pi * k / n_fft);
  }
}

int64_t LogMelSpectrogram::num_frames(int64_t num_samples) const {
  const int64_t padded = num_samples + 2 * (fft_.size() / 2);
  if (padded < fft_.size()) return 0;
  return 1 + (padded - fft_.size()) / hop_;
}

void LogMelSpectrogram::compute(std::span<const float> waveform, int64_t frames, float* out, int64_t mel_stride,
                                int64_t frame_stride) const {
  const int64_t n = static_cast<int64_t>(waveform.size());
  IA_CHECK(n > 0, "spectrogram of an empty waveform");
  IA_CHECK(frames >= 0 && frames <= num_frames(n), "spectrogram: {} frames of {} samples", frames, n);
  const int n_fft = fft_.size();
  const int64_t pad = n_fft / 2;
  const int bins = fft_.bins();
  const int mels = filters_.num_mel_filters;
  const float* x = waveform.data();

  parallel_for(frames, 32, [&](int64_t begin, int64_t end) {
    std::vector<double> frame(static_cast<size_t>(n_fft));
    std::vector<std::complex<double>> spectrum(static_cast<size_t>(bins)), work(fft_.work_size());
    std::vector<double> power(static_cast<size_t>(bins));
    for (int64_t f = begin; f < end; ++f) {
      // Samples [f*hop - pad, f*hop - pad + n_fft) of the waveform, reflected at its ends.
      const int64_t start = f * hop_ - pad;
      if (start >= 0 && start + n_fft <= n) {
        for (int j = 0; j < n_fft; ++j)
          frame[static_cast<size_t>(j)] = static_cast<double>(x[start + j]) * window_[static_cast<size_t>(j)];
      } else {
        for (int j = 0; j < n_fft; ++j)
          frame[static_cast<size_t>(j)] =
              static_cast<double>(x[reflect_index(start + j, n)]) * window_[static_cast<size_t>(j)];
      }
      fft_.forward(frame.data(), spectrum.data(), work.data());
      // numpy keeps the spectrum as complex64, then takes |.|^2 in float64.
      for (int b = 0; b < bins; ++b) {
        const double re = static_cast<float>(spectrum[static_cast<size_t>(b)].real());
        const double im = static_cast<float>(spectrum[static_cast<size_t>(b)].imag());
        power[static_cast<size_t>(b)] = re * re + im * im;
      }
      for (int m = 0; m < mels; ++m) {
        const double* w = filters_.weights.data() + static_cast<size_t>(m) * static_cast<size_t>(bins);
        double acc = 0.0;
        for (int b = filters_.first[static_cast<size_t>(m)]; b < filters_.last[static_cast<size_t>(m)]; ++b)
          acc += w[b] * power[static_cast<size_t>(b)];
        acc = std::max(acc, 1e-10);  // mel_floor
        const double v = log_ == LogMel::Log10 ? std::log10(acc) : 10.0 * std::log10(acc);
        out[m * mel_stride + f * frame_stride] = static_cast<float>(v);
      }
    }
  });
}

}  // namespace ia::audio
