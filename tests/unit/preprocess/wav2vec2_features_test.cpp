#include "preprocess/audio/wav2vec2_features.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "preprocess/audio/audio_loader.h"
#include "unit/preprocess/audio_test_util.h"

namespace ia::audio {
namespace {

using test::expect_error;
using test::fixture_dir;
using test::TempDir;
using test::write_bytes;

// The fixture's reference.json has no atol_features for wav2vec2: input_values are a mean and a
// variance away from the samples, so they are held to 1e-5 (float32 rounding of values near 4).
constexpr double kInputValuesAtol = 1e-5;

TEST(Wav2Vec2Features, MatchesTransformersOnFixture) {
  const std::string dir = fixture_dir("wav2vec2");
  Wav2Vec2FeatureConfig cfg = Wav2Vec2FeatureConfig::load(dir);
  EXPECT_EQ(cfg.sampling_rate, 16000);
  EXPECT_TRUE(cfg.do_normalize);
  EXPECT_FALSE(cfg.return_attention_mask);
  AudioClip clip = load_audio_file(dir + "/audio.wav", static_cast<int>(cfg.sampling_rate));
  Tensor got = wav2vec2_input_values(clip.samples, cfg);
  Tensor want = test::reference_tensor("wav2vec2", "input_values");
  ASSERT_EQ(shape_str(want.shape()), "[1, 16000]");
  const double diff = test::max_abs_diff(got.view({1, got.size(0)}), want);
  std::printf("  wav2vec2 input_values: max |diff| %.3g (atol %.3g)\n", diff, kInputValuesAtol);
  EXPECT_LE(diff, kInputValuesAtol);
}

TEST(Wav2Vec2Features, Normalisation) {
  std::vector<float> x = {1, 2, 3, 4};  // mean 2.5, population variance 1.25
  Wav2Vec2FeatureConfig cfg;
  Tensor v = wav2vec2_input_values(x, cfg);
  const double denom = std::sqrt(1.25 + 1e-7);
  for (int i = 0; i < 4; ++i)
    EXPECT_FLOAT_EQ(v.data<float>()[i], static_cast<float>((x[static_cast<size_t>(i)] - 2.5) / denom));
  // A constant clip: zero mean, the 1e-7 epsilon keeps it finite (zeros).
  std::vector<float> flat(100, 0.25f);
  Tensor z = wav2vec2_input_values(flat, cfg);
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(z.data<float>()[i], 0.0f);
  cfg.do_normalize = false;
  Tensor raw = wav2vec2_input_values(x, cfg);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(raw.data<float>()[i], x[static_cast<size_t>(i)]);
  expect_error([&] { wav2vec2_input_values({}, cfg); }, ErrorKind::InvalidArgument, {"no samples"});
}

TEST(Wav2Vec2Features, Config) {
  TempDir dir;
  write_bytes(dir.file("preprocessor_config.json"),
              R"({"feature_extractor_type": "Wav2Vec2FeatureExtractor", "do_normalize": false,
                  "return_attention_mask": true, "sampling_rate": 8000})");
  Wav2Vec2FeatureConfig c = Wav2Vec2FeatureConfig::load(dir.path());
  EXPECT_FALSE(c.do_normalize);
  EXPECT_TRUE(c.return_attention_mask);
  EXPECT_EQ(c.sampling_rate, 8000);
  write_bytes(dir.file("preprocessor_config.json"),
              R"({"feature_extractor_type": "Wav2Vec2FeatureExtractor", "feature_size": 2})");
  expect_error([&] { Wav2Vec2FeatureConfig::load(dir.path()); }, ErrorKind::Unsupported, {"'feature_size' is 2"});
  write_bytes(dir.file("preprocessor_config.json"), R"({"feature_extractor_type": "WhisperFeatureExtractor"})");
  expect_error([&] { Wav2Vec2FeatureConfig::load(dir.path()); }, ErrorKind::Unsupported, {"WhisperFeatureExtractor"});
}

}  // namespace
}  // namespace ia::audio
