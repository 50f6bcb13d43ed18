#include "preprocess/audio/mel_filter_bank.h"

#include <gtest/gtest.h>

#include <cmath>

#include "unit/formats/formats_test_util.h"

namespace ia::audio {
namespace {

TEST(MelFilterBank, Scales) {
  // Slaney: linear below 1 kHz (3 mels per 200 Hz), logarithmic above; HTK: 2595 log10(1 + f/700).
  EXPECT_DOUBLE_EQ(hertz_to_mel(200, MelScale::Slaney), 3.0);
  EXPECT_DOUBLE_EQ(hertz_to_mel(1000, MelScale::Slaney), 15.0);
  EXPECT_NEAR(hertz_to_mel(6400, MelScale::Slaney), 15.0 + 27.0, 1e-12);  // 27 mels per factor 6.4
  EXPECT_NEAR(hertz_to_mel(700, MelScale::Htk), 2595.0 * std::log10(2.0), 1e-12);
  for (double hz : {0.0, 50.0, 999.0, 1000.0, 4321.0, 8000.0, 14000.0}) {
    EXPECT_NEAR(mel_to_hertz(hertz_to_mel(hz, MelScale::Slaney), MelScale::Slaney), hz, 1e-9 * (1 + hz));
    EXPECT_NEAR(mel_to_hertz(hertz_to_mel(hz, MelScale::Htk), MelScale::Htk), hz, 1e-9 * (1 + hz));
  }
}

// Whisper's bank: 80 triangles over 201 bins of 40 Hz up to 8 kHz, each non-zero only in its range.
TEST(MelFilterBank, WhisperBankShape) {
  MelFilterBank fb = mel_filter_bank(201, 80, 0.0, 8000.0, 16000, MelNorm::Slaney, MelScale::Slaney);
  ASSERT_EQ(fb.num_mel_filters, 80);
  ASSERT_EQ(fb.num_frequency_bins, 201);
  for (int m = 0; m < 80; ++m) {
    for (int b = 0; b < 201; ++b) {
      const double w = fb.weight(m, b);
      EXPECT_GE(w, 0.0);
      const bool inside = b >= fb.first[static_cast<size_t>(m)] && b < fb.last[static_cast<size_t>(m)];
      EXPECT_TRUE(inside || w == 0.0) << m << " " << b;
    }
    EXPECT_LT(fb.first[static_cast<size_t>(m)], fb.last[static_cast<size_t>(m)]) << m;
  }
  // Filter 0 rises from 0 Hz to its centre edge1 (~37 Hz) and falls to edge2 (~74 Hz), the first
  // three of 82 points evenly spaced in mels up to 8 kHz; bin 1 (40 Hz) is on the falling side, and
  // the Slaney norm scales by 2 / (edge2 - 0).
  const double mel_step = hertz_to_mel(8000.0, MelScale::Slaney) / 81.0;
  const double edge1 = mel_to_hertz(mel_step, MelScale::Slaney), edge2 = mel_to_hertz(2 * mel_step, MelScale::Slaney);
  const double rising = 40.0 / edge1, falling = (edge2 - 40.0) / (edge2 - edge1);
  EXPECT_LT(falling, rising);
  EXPECT_DOUBLE_EQ(fb.weight(0, 1), falling * 2.0 / edge2);
  EXPECT_EQ(fb.weight(0, 2), 0.0);  // 80 Hz: past edge2
}

// Slaney normalisation makes every triangle's area 1 (in Hz): on 2-Hz bins, sum of weights * 2 Hz
// is 1 within the sampling of the narrowest triangles; without it they peak at 1 instead.
TEST(MelFilterBank, SlaneyNormGivesUnitArea) {
  MelFilterBank fb = mel_filter_bank(4001, 80, 0.0, 8000.0, 16000, MelNorm::Slaney, MelScale::Slaney);
  for (int m = 0; m < 80; ++m) {
    double area = 0;
    for (int b = 0; b < 4001; ++b) area += fb.weight(m, b) * 2.0;
    EXPECT_NEAR(area, 1.0, 0.01) << m;
  }
}

TEST(MelFilterBank, HtkWithoutNorm) {
  MelFilterBank fb = mel_filter_bank(513, 64, 50.0, 14000.0, 48000, MelNorm::None, MelScale::Htk);
  double peak = 0;
  for (double w : fb.weights) peak = std::max(peak, w);
  EXPECT_LE(peak, 1.0);
  EXPECT_GT(peak, 0.9);  // unnormalised triangles peak near 1 where a bin falls near the centre
  // Filter 0 is non-zero strictly between 50 Hz and its upper edge, 2 / 65 of the way from 50 Hz to
  // 14 kHz in HTK mels; bins are 48000 / 1024 = 46.875 Hz apart.
  const double lo = hertz_to_mel(50, MelScale::Htk), hi = hertz_to_mel(14000, MelScale::Htk);
  const double upper = mel_to_hertz(lo + 2 * (hi - lo) / 65, MelScale::Htk);
  for (int b = 0; b < 513; ++b) {
    const double hz = b * 46.875;
    EXPECT_EQ(fb.weight(0, b) != 0.0, hz > 50.0 && hz < upper) << b;
  }
}

TEST(MelFilterBank, RefusesBadArguments) {
  test::expect_error([] { mel_filter_bank(1, 80, 0, 8000, 16000, MelNorm::Slaney, MelScale::Slaney); },
                     ErrorKind::InvalidArgument, {"1 frequency bins"});
  test::expect_error([] { mel_filter_bank(201, 0, 0, 8000, 16000, MelNorm::Slaney, MelScale::Slaney); },
                     ErrorKind::InvalidArgument, {"0 filters"});
  test::expect_error([] { mel_filter_bank(201, 80, 9000, 8000, 16000, MelNorm::Slaney, MelScale::Slaney); },
                     ErrorKind::InvalidArgument, {"min_frequency"});
}

}  // namespace
}  // namespace ia::audio
