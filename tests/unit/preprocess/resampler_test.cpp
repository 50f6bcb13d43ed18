#include "preprocess/audio/resampler.h"

#include <gtest/gtest.h>

#include <samplerate.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

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

// A long clip is converted in pieces on the thread pool: the same samples as one libsamplerate call
// over the whole clip, and all ceil(n * to / from) of them.
TEST(Resampler, PiecesMatchOneCall) {
  for (auto [from, to] : {std::pair{44100, 16000}, {48000, 16000}, {8000, 16000}, {44100, 48000}, {96000, 44100}}) {
    SCOPED_TRACE(std::to_string(from) + " -> " + std::to_string(to));
    std::vector<float> x = test::tones(std::max(from * 3, 140000) + 77, from);  // 3 pieces or more
    for (size_t i = 0; i < x.size(); ++i)
      x[i] *= static_cast<float>(1.0 + 0.5 * std::sin(static_cast<double>(i) * 1e-4));
    x[x.size() / 3] = 0.9f;
    std::vector<float> got = resample(x, from, to);
    std::vector<float> whole(got.size() + 16);
    SRC_DATA d{};
    d.data_in = x.data();
    d.input_frames = static_cast<long>(x.size());
    d.data_out = whole.data();
    d.output_frames = static_cast<long>(whole.size());
    d.src_ratio = static_cast<double>(to) / from;
    ASSERT_EQ(src_simple(&d, SRC_SINC_BEST_QUALITY, 1), 0);
    ASSERT_GE(d.output_frames_gen + 1, static_cast<long>(got.size()));
    const int64_t n = std::min<int64_t>(d.output_frames_gen, static_cast<int64_t>(got.size()));
    const double diff = test::max_abs_diff(got.data(), whole.data(), n);
    std::printf("  %d -> %d Hz in pieces: max |diff| from one call %.3g\n", from, to, diff);
    EXPECT_LE(diff, 1e-6);
    // The tail one call leaves out (libsamplerate stops a sample or two short) is there too.
    EXPECT_EQ(static_cast<int64_t>(got.size()), (static_cast<int64_t>(x.size()) * to + from - 1) / from);
    EXPECT_NE(got.back(), 0.0f);
  }
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
