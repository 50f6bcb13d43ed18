#include "preprocess/audio/clap_features.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "preprocess/audio/audio_loader.h"
#include "unit/preprocess/audio_test_util.h"

namespace ia::audio {
namespace {

using test::expect_error;
using test::fixture_dir;
using test::max_abs_diff;
using test::TempDir;
using test::write_bytes;

// The fixture's extractor with other truncation / padding modes.
ClapFeatureExtractor fixture_extractor(ClapTruncation t, ClapPadding p) {
  ClapFeatureConfig c = ClapFeatureConfig::load(fixture_dir("clap"));
  c.truncation = t;
  c.padding = p;
  return ClapFeatureExtractor(c);
}

Tensor frames_of(const Tensor& features, int64_t channel) {
  return features.select(0, channel).contiguous();
}

TEST(ClapFeatures, FixtureConfig) {
  ClapFeatureConfig c = ClapFeatureConfig::load(fixture_dir("clap"));
  EXPECT_EQ(c.feature_size, 16);
  EXPECT_EQ(c.sampling_rate, 48000);
  EXPECT_EQ(c.hop_length, 480);
  EXPECT_EQ(c.fft_window_size, 1024);
  EXPECT_EQ(c.nb_max_samples(), 96000);
  EXPECT_DOUBLE_EQ(c.frequency_min, 50);
  EXPECT_DOUBLE_EQ(c.frequency_max, 14000);
  EXPECT_EQ(c.truncation, ClapTruncation::RandTrunc);
  EXPECT_EQ(c.padding, ClapPadding::RepeatPad);
}

// The short-audio path (1.3 s < 2 s: repeatpad, Slaney mel in dB) against ClapFeatureExtractor.
TEST(ClapFeatures, MatchesTransformersOnFixture) {
  const std::string dir = fixture_dir("clap");
  ClapFeatureExtractor fe = ClapFeatureExtractor::load(dir);
  AudioClip clip = load_audio_file(dir + "/audio.wav", fe.sampling_rate());
  ASSERT_EQ(clip.samples.size(), 62400u);
  ClapFeatures f = fe.compute(clip.samples);
  EXPECT_FALSE(f.is_longer);
  Tensor want = test::reference_tensor("clap", "input_features");
  ASSERT_EQ(shape_str(want.shape()), "[1, 1, 201, 16]");
  const double atol = test::reference_json("clap").at("atol_features").get<double>();
  const double diff = max_abs_diff(f.input_features.view({1, 1, 201, 16}), want);
  std::printf("  clap input_features: max |diff| %.3g (atol %.3g)\n", diff, atol);
  EXPECT_LE(diff, atol);
}

// repeat / repeatpad / pad are the same spectrogram of the waveform each builds.
TEST(ClapFeatures, PaddingModes) {
  std::vector<float> clip = test::tones(30000, 48000);  // 96000 = 3 * 30000 + 6000
  auto tiled = [&](int64_t n) {
    std::vector<float> w(96000, 0.0f);
    for (int64_t i = 0; i < n; ++i) w[static_cast<size_t>(i)] = clip[static_cast<size_t>(i % 30000)];
    return w;
  };
  ClapFeatureExtractor pad = fixture_extractor(ClapTruncation::RandTrunc, ClapPadding::Pad);
  ClapFeatureExtractor repeatpad = fixture_extractor(ClapTruncation::RandTrunc, ClapPadding::RepeatPad);
  ClapFeatureExtractor repeat = fixture_extractor(ClapTruncation::RandTrunc, ClapPadding::Repeat);
  Tensor by_pad = pad.compute(clip).input_features;
  EXPECT_EQ(shape_str(by_pad.shape()), "[1, 201, 16]");
  EXPECT_EQ(max_abs_diff(by_pad, pad.compute(tiled(30000)).input_features), 0.0);
  EXPECT_EQ(max_abs_diff(repeatpad.compute(clip).input_features, pad.compute(tiled(90000)).input_features), 0.0);
  EXPECT_EQ(max_abs_diff(repeat.compute(clip).input_features, pad.compute(tiled(96000)).input_features), 0.0);
  // Not the same features: the modes matter.
  EXPECT_GT(max_abs_diff(by_pad, repeat.compute(clip).input_features), 1.0);

  // fusion, short clip: the HTK mel four times, is_longer set (transformers marks one clip of a
  // batch with none longer: a batch of one is always marked).
  ClapFeatures fused = fixture_extractor(ClapTruncation::Fusion, ClapPadding::RepeatPad).compute(clip);
  EXPECT_EQ(shape_str(fused.input_features.shape()), "[4, 201, 16]");
  EXPECT_TRUE(fused.is_longer);
  for (int64_t c = 1; c < 4; ++c)
    EXPECT_EQ(max_abs_diff(frames_of(fused.input_features, c), frames_of(fused.input_features, 0)), 0.0);
  EXPECT_GT(max_abs_diff(frames_of(fused.input_features, 0), frames_of(repeatpad.compute(clip).input_features, 0)),
            0.1);
}

// Longer than max_length_s: the documented deterministic choices.
TEST(ClapFeatures, LongAudioIsDeterministic) {
  std::vector<float> clip = test::tones(48000 * 5 + 123, 48000);
  clip[200000] = 0.9f;  // something that is not periodic
  ClapFeatureExtractor trunc = fixture_extractor(ClapTruncation::RandTrunc, ClapPadding::RepeatPad);
  ClapFeatures t = trunc.compute(clip);
  EXPECT_TRUE(t.is_longer);
  std::vector<float> head(clip.begin(), clip.begin() + 96000);
  EXPECT_EQ(max_abs_diff(t.input_features, trunc.compute(head).input_features), 0.0);  // the start
  EXPECT_EQ(max_abs_diff(t.input_features, trunc.compute(clip).input_features), 0.0);  // always the same

  ClapFeatureExtractor fusion = fixture_extractor(ClapTruncation::Fusion, ClapPadding::RepeatPad);
  ClapFeatures f = fusion.compute(clip);
  EXPECT_TRUE(f.is_longer);
  ASSERT_EQ(shape_str(f.input_features.shape()), "[4, 201, 16]");
  // The whole clip's HTK mel: 1 + 240123 / 480 = 501 frames, 301 crop offsets split 101/100/100:
  // front offset 0, middle 101 + 50, back 300 (the clip's end).
  ClapFeatureConfig cfg = fusion.config();
  LogMelSpectrogram htk(1024, 480, mel_filter_bank(513, 16, 50, 14000, 48000, MelNorm::None, MelScale::Htk),
                        LogMel::Decibel);
  ASSERT_EQ(htk.num_frames(static_cast<int64_t>(clip.size())), 501);
  std::vector<float> whole(501 * 16);
  htk.compute(clip, 501, whole.data(), 1, 16);
  const float* got = f.input_features.data<float>();
  EXPECT_EQ(test::max_abs_diff(got + 1 * 201 * 16, whole.data() + 0 * 16, 201 * 16), 0.0);
  EXPECT_EQ(test::max_abs_diff(got + 2 * 201 * 16, whole.data() + 151 * 16, 201 * 16), 0.0);
  EXPECT_EQ(test::max_abs_diff(got + 3 * 201 * 16, whole.data() + 300 * 16, 201 * 16), 0.0);
  // Channel 0: the mel resized to 201 rows (bilinear, half-pixel centres): row r samples source
  // row (r + 0.5) * 501 / 201 - 0.5; row 100 is 250 exactly.
  for (int64_t m = 0; m < 16; ++m) EXPECT_FLOAT_EQ(got[100 * 16 + m], whole[static_cast<size_t>(250 * 16 + m)]);
  const float src = (10 + 0.5f) * (501.0f / 201.0f) - 0.5f;
  const int64_t r0 = static_cast<int64_t>(src);
  const float l1 = src - static_cast<float>(r0);
  for (int64_t m = 0; m < 16; ++m)
    EXPECT_NEAR(got[10 * 16 + m],
                (1 - l1) * whole[static_cast<size_t>(r0 * 16 + m)] + l1 * whole[static_cast<size_t>((r0 + 1) * 16 + m)],
                1e-4);
  (void)cfg;
}

TEST(ClapFeatures, ConfigErrors) {
  TempDir dir;
  write_bytes(dir.file("preprocessor_config.json"),
              R"({"feature_extractor_type": "ClapFeatureExtractor", "truncation": "middle"})");
  expect_error([&] { ClapFeatureConfig::load(dir.path()); }, ErrorKind::Unsupported, {"truncation 'middle'"});
  write_bytes(dir.file("preprocessor_config.json"),
              R"({"feature_extractor_type": "ClapFeatureExtractor", "padding": "zeros"})");
  expect_error([&] { ClapFeatureConfig::load(dir.path()); }, ErrorKind::Unsupported, {"padding 'zeros'"});
  write_bytes(dir.file("preprocessor_config.json"),
              R"({"feature_extractor_type": "ClapFeatureExtractor", "frequency_min": 9000, "frequency_max": 100})");
  expect_error([&] { ClapFeatureConfig::load(dir.path()); }, ErrorKind::Corrupt, {"frequency_min"});
  ClapFeatureExtractor fe = ClapFeatureExtractor::load(fixture_dir("clap"));
  expect_error([&] { fe.compute({}); }, ErrorKind::InvalidArgument, {"no samples"});
}

}  // namespace
}  // namespace ia::audio
