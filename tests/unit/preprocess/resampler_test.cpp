#include "preprocess/audio/resampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "unit/preprocess/audio_test_util.h"

namespace ia::audio {
namespace {

using test::expect_error;

// The tones (220, 660 and 3000 Hz) sampled at one rate, converted to another, against the same
// tones sampled at the other rate: SRC_SINC_BEST_QUALITY is exact to ~1e-6 here; 1e-4 is the bound,
// away from the first and last 50 ms where the converter sees the signal start from silence.
void expect_converts(int from, int to, ResampleQuality q, double tol) {
  const int64_t n = from * 2;  // 2 s
  std::vector<float> out = resample(test::tones(n, from), from, to, q);
  const int64_t want = (n * to + from - 1) / from;
  ASSERT_EQ(static_cast<int64_t>(out.size()), want);
  std::vector<float> exact = test::tones(want, to);
  const int64_t edge = to / 20;
  double worst = test::max_abs_diff(out.data() + edge, exact.data() + edge, want - 2 * edge);
  std::printf("  %d -> %d Hz: max |error| %.3g\n", from, to, worst);
  EXPECT_LT(worst, tol) << from << " -> " << to;
}

TEST(Resampler, MatchesTheSignalAtTheNewRate) {
  expect_converts(44100, 16000, ResampleQuality::Best, 1e-4);
  expect_converts(48000, 16000, ResampleQuality::Best, 1e-4);
  expect_converts(8000, 16000, ResampleQuality::Best, 1e-4);
  expect_converts(22050, 48000, ResampleQuality::Best, 1e-4);
  expect_converts(44100, 16000, ResampleQuality::Medium, 1e-3);
}

TEST(Resampler, SameRateAndClips) {
  std::vector<float> x = test::tones(1000, 16000);
  EXPECT_EQ(resample(x, 16000, 16000), x);
  AudioClip clip;
  clip.samples = x;
  clip.sample_rate = 48000;
  clip.channels = 2;
  AudioClip at16 = resample(clip, 16000);
  EXPECT_EQ(at16.sample_rate, 16000);
  EXPECT_EQ(at16.channels, 2);
  EXPECT_EQ(at16.samples.size(), 334u);  // ceil(1000 / 3)
  EXPECT_EQ(resample(clip, 48000).samples, x);
  EXPECT_TRUE(resample(std::vector<float>{}, 44100, 16000).empty());
}

TEST(Resampler, RefusesBadRates) {
  std::vector<float> x(100, 0.0f);
  expect_error([&] { resample(x, 0, 16000); }, ErrorKind::InvalidArgument, {"positive"});
  expect_error([&] { resample(x, 16000, -1); }, ErrorKind::InvalidArgument, {"positive"});
  expect_error([&] { resample(x, 1000, 768000); }, ErrorKind::InvalidArgument, {"1000 Hz to 768000 Hz"});
}

}  // namespace
}  // namespace ia::audio
