#pragma once
// Triangular mel filters as transformers' audio_utils.mel_filter_bank makes them (filters
// triangular in Hz, triangularize_in_mel_space=False), computed in double with numpy's formulas and
// operation order: the Slaney scale and area normalisation Whisper and CLAP's rand_trunc path use,
// and the HTK scale without normalisation of CLAP's fusion path.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ia::audio {

enum class MelScale { Htk, Slaney };
enum class MelNorm { None, Slaney };

struct MelFilterBank {
  int num_frequency_bins = 0;
  int num_mel_filters = 0;
  // weights[m * num_frequency_bins + b]: filter m's weight of frequency bin b.
  std::vector<double> weights;
  // Filter m is non-zero only in bins [first[m], last[m]) (empty when first == last).
  std::vector<int> first, last;

  double weight(int mel, int bin) const {
    return weights[static_cast<size_t>(mel) * static_cast<size_t>(num_frequency_bins) + static_cast<size_t>(bin)];
  }
};

// mel_filter_bank(num_frequency_bins, num_mel_filters, min_frequency, max_frequency, sampling_rate,
// norm, mel_scale). InvalidArgument for fewer than 2 bins, no filters or min > max.
MelFilterBank mel_filter_bank(int num_frequency_bins, int num_mel_filters, double min_frequency, double max_frequency,
                              int64_t sampling_rate, MelNorm norm, MelScale scale);

double hertz_to_mel(double hz, MelScale scale);
double mel_to_hertz(double mel, MelScale scale);

}  // namespace ia::audio
