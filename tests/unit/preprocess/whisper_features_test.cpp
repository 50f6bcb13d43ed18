#include "preprocess/audio/whisper_features.h"

#include <gtest/gtest.h>

#include <chrono>
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

TEST(WhisperFeatures, FixtureConfig) {
  WhisperFeatureConfig c = WhisperFeatureConfig::load(fixture_dir("whisper"));
  EXPECT_EQ(c.feature_size, 80);
  EXPECT_EQ(c.sampling_rate, 16000);
  EXPECT_EQ(c.n_fft, 400);
  EXPECT_EQ(c.hop_length, 160);
  EXPECT_EQ(c.n_samples(), 480000);
  EXPECT_EQ(c.nb_max_frames(), 3000);
  EXPECT_FALSE(c.return_attention_mask);
}

// The fixture folder as a user's model folder: its preprocessor_config.json, audio.wav decoded,
// input_features within the fixture's atol_features of WhisperFeatureExtractor's.
TEST(WhisperFeatures, MatchesTransformersOnFixture) {
  const std::string dir = fixture_dir("whisper");
  WhisperFeatureExtractor fe = WhisperFeatureExtractor::load(dir);
  AudioClip clip = load_audio_file(dir + "/audio.wav", fe.sampling_rate());
  ASSERT_EQ(clip.sample_rate, 16000);
  ASSERT_EQ(clip.samples.size(), 40000u);
  Tensor got = fe.compute(clip.samples);
  Tensor want = test::reference_tensor("whisper", "input_features");
  ASSERT_EQ(shape_str(want.shape()), "[1, 80, 3000]");
  const double atol = test::reference_json("whisper").at("atol_features").get<double>();
  const double diff = max_abs_diff(got.view({1, 80, 3000}), want);
  std::printf("  whisper input_features: max |diff| %.3g (atol %.3g)\n", diff, atol);
  EXPECT_LE(diff, atol);
  // The padded tail is the floor value in every bin, as in the reference.
  EXPECT_FLOAT_EQ(got.data<float>()[2999], want.data<float>()[2999]);
}

// Not an assertion (no timing assertions): the time of 30 s of audio, printed for the report.
TEST(WhisperFeatures, ThirtySecondsTiming) {
  WhisperFeatureExtractor fe = WhisperFeatureExtractor::load(fixture_dir("whisper"));
  std::vector<float> audio = test::tones(480000, 16000);
  Tensor first = fe.compute(audio);  // warm-up
  const int reps = 5;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) first = fe.compute(audio);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
  std::printf("  whisper log-mel of 30 s: %.2f ms\n", ms);
  EXPECT_EQ(shape_str(first.shape()), "[80, 3000]");
}

TEST(WhisperFeatures, TruncatesAndPads) {
  WhisperFeatureExtractor fe = WhisperFeatureExtractor::load(fixture_dir("whisper"));
  std::vector<float> long_audio = test::tones(480000 + 16000 * 5, 16000);
  std::vector<float> head(long_audio.begin(), long_audio.begin() + 480000);
  EXPECT_EQ(max_abs_diff(fe.compute(long_audio), fe.compute(head)), 0.0);

  // compute_unpadded: samples / hop frames, and on exactly 30 s the same as compute.
  Tensor whole = fe.compute_unpadded(long_audio);
  EXPECT_EQ(shape_str(whole.shape()), "[80, 3500]");
  EXPECT_EQ(max_abs_diff(fe.compute_unpadded(head), fe.compute(head)), 0.0);

  expect_error([&] { fe.compute({}); }, ErrorKind::InvalidArgument, {"no samples"});
  expect_error([&] { fe.compute_unpadded({}); }, ErrorKind::InvalidArgument, {"no samples"});
}

TEST(WhisperFeatures, ConfigFromProcessorConfig) {
  // transformers 5 nests the feature extractor in processor_config.json; it wins over
  // preprocessor_config.json, as in transformers.
  TempDir dir;
  write_bytes(dir.file("processor_config.json"),
              R"({"processor_class": "WhisperProcessor", "feature_extractor": {"feature_extractor_type":
                 "WhisperFeatureExtractor", "feature_size": 128, "sampling_rate": 16000, "hop_length": 160,
                 "chunk_length": 30, "n_fft": 400}})");
  write_bytes(dir.file("preprocessor_config.json"), R"({"feature_extractor_type": "WhisperFeatureExtractor",
              "feature_size": 80})");
  WhisperFeatureConfig c = WhisperFeatureConfig::load(dir.path());
  EXPECT_EQ(c.feature_size, 128);
  FeatureExtractorConfig raw = load_feature_extractor_config(dir.path());
  EXPECT_EQ(raw.values.path(), dir.file("processor_config.json") + ":feature_extractor");
  EXPECT_EQ(raw.type, "WhisperFeatureExtractor");

  // "audio_processor" is the other key transformers looks for.
  write_bytes(dir.file("processor_config.json"),
              R"({"audio_processor": {"feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 64}})");
  EXPECT_EQ(WhisperFeatureConfig::load(dir.path()).feature_size, 64);

  // A processor_config.json without an audio part (an image model's): preprocessor_config.json.
  write_bytes(dir.file("processor_config.json"), R"({"image_processor": {"image_processor_type": "X"}})");
  EXPECT_EQ(WhisperFeatureConfig::load(dir.path()).feature_size, 80);
}

TEST(WhisperFeatures, ConfigErrors) {
  TempDir dir;
  expect_error([&] { WhisperFeatureConfig::load(dir.path()); }, ErrorKind::NotFound,
               {dir.path(), "no audio feature extractor config"});
  expect_error([&] { WhisperFeatureConfig::load(dir.file("absent")); }, ErrorKind::NotFound, {"no such model folder"});
  write_bytes(dir.file("preprocessor_config.json"), R"({"feature_extractor_type": "ClapFeatureExtractor"})");
  expect_error([&] { WhisperFeatureConfig::load(dir.path()); }, ErrorKind::Unsupported,
               {"preprocessor_config.json", "ClapFeatureExtractor", "WhisperFeatureExtractor"});
  write_bytes(dir.file("preprocessor_config.json"), R"({"image_processor_type": "CLIPImageProcessor"})");
  expect_error([&] { WhisperFeatureConfig::load(dir.path()); }, ErrorKind::Unsupported,
               {"image processor", "CLIPImageProcessor"});
  write_bytes(dir.file("preprocessor_config.json"),
              R"({"feature_extractor_type": "WhisperFeatureExtractor", "dither": 0.5})");
  expect_error([&] { WhisperFeatureConfig::load(dir.path()); }, ErrorKind::Unsupported, {"'dither'"});
  write_bytes(dir.file("preprocessor_config.json"),
              R"({"feature_extractor_type": "WhisperFeatureExtractor", "n_fft": 0})");
  expect_error([&] { WhisperFeatureConfig::load(dir.path()); }, ErrorKind::Corrupt,
               {"preprocessor_config.json", "'n_fft' is 0"});
  write_bytes(dir.file("preprocessor_config.json"),
              R"({"feature_extractor_type": "WhisperFeatureExtractor", "hop_length": "x"})");
  expect_error([&] { WhisperFeatureConfig::load(dir.path()); }, ErrorKind::Corrupt, {"'hop_length'"});
  write_bytes(dir.file("processor_config.json"), R"({"feature_extractor": [1]})");
  expect_error([&] { WhisperFeatureConfig::load(dir.path()); }, ErrorKind::Corrupt,
               {"processor_config.json:feature_extractor"});
}

}  // namespace
}  // namespace ia::audio
