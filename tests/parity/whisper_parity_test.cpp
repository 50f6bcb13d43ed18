// WhisperForConditionalGeneration parity against transformers 5.17: tests/fixtures/models/whisper
// (the shared tools/fixtures/make_fixtures.py make_whisper: a random 2+2-layer Whisper, tied
// proj_out) and, once made on the GPU machine, the folders of tools/fixtures/
// make_whisper_fixtures.py (whisper-ts: timestamp tokens, lang_to_id, a 3+2-layer model; skipped
// while absent). The folder is loaded as a user's model folder: the encoder's last hidden state of
// the reference input_features (and of our own features of audio.wav) within atol, greedy decoding
// from decoder_prefix gives greedy_ids exactly, and the decoder's logits of prefix + greedy ids are
// the same run as one prompt and token by token over the paged cache. Runs on IA_TEST_DEVICE.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/model_registry.h"
#include "models/whisper.h"
#include "ops/ops.h"
#include "preprocess/audio/audio_loader.h"
#include "preprocess/audio/whisper_features.h"
#include "runtime/step_runner.h"
#include "test_device.h"

namespace ia {
namespace {

std::string folder(const std::string& name) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + name;
}

double max_err(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  std::vector<float> g = got.to_f32_vector(), w = want.to_f32_vector();
  double err = 0;
  for (size_t i = 0; i < w.size() && i < g.size(); ++i) {
    const double d = std::fabs(static_cast<double>(g[i]) - w[i]);
    if (!(d <= err)) err = std::isnan(d) ? INFINITY : d;
  }
  return err;
}

class WhisperParity : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = folder(GetParam());
    if (!std::filesystem::exists(dir_ + "/reference.json"))
      GTEST_SKIP() << dir_ << " is absent: make it with tools/fixtures/make_whisper_fixtures.py (docs/testing.md)";
    file_ = SafetensorsFile::open(dir_ + "/reference.safetensors");
    std::ifstream in(dir_ + "/reference.json");
    meta_ = nlohmann::json::parse(in);
    atol_ = meta_["atol"].get<double>();
    config_.emplace(HfConfig::load(dir_));
    weights_ = WeightStore::open(dir_);
    auto loaded = load_encoder_decoder(*config_, *weights_, DType::F32, test_device());
    model_.reset(dynamic_cast<WhisperModel*>(loaded.release()));
    ASSERT_NE(model_, nullptr) << "the registry's whisper loader gives a WhisperModel";
  }

  std::string dir_;
  std::shared_ptr<SafetensorsFile> file_;
  nlohmann::json meta_;
  double atol_ = 0;
  std::optional<HfConfig> config_;
  std::shared_ptr<WeightStore> weights_;  // the model reads the mapped weights
  std::unique_ptr<WhisperModel> model_;
};

TEST_P(WhisperParity, EncoderOutputOfTheReferenceAndOfOurFeatures) {
  const Tensor want = file_->tensor("encoder_hidden");  // [1, 1500, d]
  const Tensor features = file_->tensor("input_features");
  const Tensor got = ops::to_device(model_->encode(features), Device::cpu());
  const double err = max_err(got.view({1, got.size(0), got.size(1)}), want);
  EXPECT_LE(err, atol_) << "encoder last_hidden_state of the reference input_features";

  // The same from the audio file through our front end (features within atol_features of the reference).
  const auto fe = audio::WhisperFeatureExtractor::load(dir_);
  const audio::AudioClip clip =
      audio::load_audio_file(dir_ + "/" + meta_["audio"].get<std::string>(), fe.sampling_rate());
  const Tensor ours = ops::to_device(model_->encode(fe.compute(clip.samples)), Device::cpu());
  const double err_ours = max_err(ours.view({1, ours.size(0), ours.size(1)}), want);
  EXPECT_LE(err_ours, 10 * atol_) << "encoder output of our features of " << meta_["audio"];
  std::cout << "[ whisper  ] " << GetParam() << ": encoder max err " << err << " (our features: " << err_ours << ")\n";
}

TEST_P(WhisperParity, GreedyIdsFromThePrefixAndDecoderLogitsEitherWay) {
  const Tensor hidden = model_->encode(file_->tensor("input_features"));
  const CrossKvCache cross = model_->make_cross_cache(hidden, {0, hidden.size(0)});
  const CausalLM& decoder = model_->decoder();
  CausalStepRunner runner(decoder);
  runner.set_cross_cache(&cross);
  auto cache = decoder.make_cache(8, 16);

  const std::vector<int32_t> prefix = meta_["decoder_prefix"].get<std::vector<int32_t>>();
  const std::vector<int32_t> want = meta_["greedy_ids"].get<std::vector<int32_t>>();
  // Greedy, token by token over the paged self-attention cache, no eos stop (as the reference).
  const int64_t seq = cache->create_sequence();
  std::vector<int32_t> got;
  std::vector<int32_t> next = runner.step_greedy({SeqChunk{seq, prefix, 0}}, *cache);
  got.push_back(next[0]);
  while (got.size() < want.size()) {
    next = runner.step_greedy({SeqChunk{seq, std::span<const int32_t>(&got.back(), 1), 0}}, *cache);
    got.push_back(next[0]);
  }
  EXPECT_EQ(got, want);

  // Every row's logits of prefix + greedy ids as one prompt equal those of the steps one by one.
  std::vector<int32_t> all = prefix;
  all.insert(all.end(), want.begin(), want.end());
  const int64_t whole = cache->create_sequence();
  const Tensor rows = runner.step({SeqChunk{whole, all, 0}}, *cache, OutputRows::All);
  ASSERT_EQ(rows.shape(), (Shape{static_cast<int64_t>(all.size()), decoder.config().vocab_size}));
  const int64_t one = cache->create_sequence();
  double err = 0;
  for (size_t t = 0; t < all.size(); ++t) {
    const Tensor row = runner.step({SeqChunk{one, std::span<const int32_t>(&all[t], 1), 0}}, *cache);
    err = std::max(err, max_err(row, rows.narrow(0, static_cast<int64_t>(t), 1)));
  }
  EXPECT_LE(err, atol_) << "decoder logits, one prompt vs token by token";
  // The prompt's argmax after each generated position is the next reference id.
  for (size_t t = prefix.size() - 1; t + 1 < all.size(); ++t) {
    const std::vector<float> r = rows.narrow(0, static_cast<int64_t>(t), 1).to_f32_vector();
    EXPECT_EQ(std::max_element(r.begin(), r.end()) - r.begin(), all[t + 1]) << "position " << t;
  }
}

TEST_P(WhisperParity, DecoderRefusesPositionsPastTheTable) {
  const Tensor hidden = model_->encode(file_->tensor("input_features"));
  const CrossKvCache cross = model_->make_cross_cache(hidden, {0, hidden.size(0)});
  const CausalLM& decoder = model_->decoder();
  CausalStepRunner runner(decoder);
  runner.set_cross_cache(&cross);
  const int64_t max = decoder.config().max_positions;
  auto cache = decoder.make_cache((max + 1 + 15) / 16 + 1, 16);
  const std::vector<int32_t> too_long(static_cast<size_t>(max + 1),
                                      static_cast<int32_t>(model_->decoder_start_token_id()));
  const int64_t seq = cache->create_sequence();
  EXPECT_THROW(runner.step({SeqChunk{seq, too_long, 0}}, *cache), Error);
  EXPECT_EQ(cache->length(seq), 0) << "a refused step leaves the sequence as it was";
}

TEST_P(WhisperParity, EncoderRefusesAWindowOfAnotherLength) {
  const Tensor features = file_->tensor("input_features");
  const Tensor shorter = features.narrow(2, 0, features.size(2) - 2).contiguous();
  EXPECT_THROW(model_->encode(shorter), Error);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, WhisperParity, ::testing::Values("whisper", "whisper-ts"));

}  // namespace
}  // namespace ia
