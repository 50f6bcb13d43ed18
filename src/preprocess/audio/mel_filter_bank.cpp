#include "preprocess/audio/mel_filter_bank.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace ia::audio {

namespace {

// numpy.linspace(start, stop, num) (endpoint=True): start + i * step, the last exactly stop.
std::vector<double> linspace(double start, double stop, int num) {
  std::vector<double> y(static_cast<size_t>(num));
  const int div = num - 1;
  const double delta = stop - start;
  const double step = div > 0 ? delta / div : 0.0;
  for (int i = 0; i < num; ++i) {
    y[static_cast<size_t>(i)] = (div > 0 && step == 0.0) ? (static_cast<double>(i) / div) * delta + start
                                                         : static_cast<double>(i) * step + start;
  }
  if (num > 1) y.back() = stop;
  return y;
}

}  // namespace

double hertz_to_mel(double hz, MelScale scale) {
  if (scale == MelScale::Htk) return 2595.0 * std::log10(1.0 + (hz / 700.0));
  constexpr double min_log_hertz = 1000.0, min_log_mel = 15.0;
  const double logstep = 27.0 / std::log(6.4);
  if (hz >= min_log_hertz) return min_log_mel + std::log(hz / min_log_hertz) * logstep;
  return 3.0 * hz / 200.0;
}

double mel_to_hertz(double mel, MelScale scale) {
  if (scale == MelScale::Htk) return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
  constexpr double min_log_hertz = 1000.0, min_log_mel = 15.0;
  const double logstep = std::log(6.4) / 27.0;
  if (mel >= min_log_mel) return min_log_hertz * std::exp(logstep * (mel - min_log_mel));
  return 200.0 * mel / 3.0;
}

MelFilterBank mel_filter_bank(int num_frequency_bins, int num_mel_filters, double min_frequency, double max_frequency,
                              int64_t sampling_rate, MelNorm norm, MelScale scale) {
  if (num_frequency_bins < 2)
    fail(ErrorKind::InvalidArgument, "mel filters: {} frequency bins, need >= 2", num_frequency_bins);
  if (num_mel_filters < 1) fail(ErrorKind::InvalidArgument, "mel filters: {} filters, need >= 1", num_mel_filters);
  if (!(min_frequency <= max_frequency))
    fail(ErrorKind::InvalidArgument, "mel filters: min_frequency {} > max_frequency {}", min_frequency, max_frequency);

  const std::vector<double> mel_freqs =
      linspace(hertz_to_mel(min_frequency, scale), hertz_to_mel(max_frequency, scale), num_mel_filters + 2);
  std::vector<double> filter_freqs(mel_freqs.size());
  for (size_t i = 0; i < mel_freqs.size(); ++i) filter_freqs[i] = mel_to_hertz(mel_freqs[i], scale);
  // np.linspace(0, sampling_rate // 2, num_frequency_bins)
  const std::vector<double> fft_freqs = linspace(0.0, static_cast<double>(sampling_rate / 2), num_frequency_bins);

  MelFilterBank fb;
  fb.num_frequency_bins = num_frequency_bins;
  fb.num_mel_filters = num_mel_filters;
  fb.weights.assign(static_cast<size_t>(num_frequency_bins) * static_cast<size_t>(num_mel_filters), 0.0);
  fb.first.assign(static_cast<size_t>(num_mel_filters), 0);
  fb.last.assign(static_cast<size_t>(num_mel_filters), 0);
  for (int m = 0; m < num_mel_filters; ++m) {
    const size_t i = static_cast<size_t>(m);
    // _create_triangular_filter_bank: slopes = filter_freqs - fft_freq; down = -slopes[i] / diff[i];
    // up = slopes[i + 2] / diff[i + 1]; weight = max(0, min(down, up)).
    const double diff_lo = filter_freqs[i + 1] - filter_freqs[i];
    const double diff_hi = filter_freqs[i + 2] - filter_freqs[i + 1];
    const double enorm = norm == MelNorm::Slaney ? 2.0 / (filter_freqs[i + 2] - filter_freqs[i]) : 1.0;
    int first = num_frequency_bins, last = 0;
    for (int b = 0; b < num_frequency_bins; ++b) {
      const double f = fft_freqs[static_cast<size_t>(b)];
      const double down = -(filter_freqs[i] - f) / diff_lo;
      const double up = (filter_freqs[i + 2] - f) / diff_hi;
      double w = std::max(0.0, std::min(down, up));
      if (norm == MelNorm::Slaney) w *= enorm;
      if (w != 0.0) {
        first = std::min(first, b);
        last = b + 1;
      }
      fb.weights[i * static_cast<size_t>(num_frequency_bins) + static_cast<size_t>(b)] = w;
    }
    fb.first[i] = first < last ? first : 0;
    fb.last[i] = first < last ? last : 0;
  }
  return fb;
}

}  // namespace ia::audio
