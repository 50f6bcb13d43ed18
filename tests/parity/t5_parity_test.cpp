// T5 parity against transformers 5.17: tests/fixtures/models/t5 (the shared
// tools/fixtures/make_fixtures.py make_t5: a random T5ForConditionalGeneration, v1.0 ReLU
// feed-forward, tied head scaled by d_model^-0.5) and, once made on the GPU machine,
// tests/fixtures/models/t5-v1_1 (tools/fixtures/make_seq2seq_fixtures.py: gated-gelu, untied
// head without scaling, 3 decoder layers, prompts past max_distance; skipped while absent).
// The folder is loaded as a user's model folder;
// the tokenizer gives the reference input_ids, the encoder's last hidden state and the decoder's
// logits for [decoder_start] + greedy_ids match within atol (the decoder run as one prompt and
// token by token over the paged cache with the cross-attention cache), and greedy generation
// from decoder start 0 (16 tokens, no eos stop) gives greedy_ids exactly, for each prompt alone
// and for all of them in one batch. Runs on IA_TEST_DEVICE.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/model_registry.h"
#include "ops/ops.h"
#include "runtime/generation.h"
#include "runtime/step_runner.h"
#include "test_device.h"
#include "tokenizers/tokenizer.h"

namespace ia {
namespace {

std::string folder(const std::string& name) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + name;
}

struct Reference {
  std::shared_ptr<SafetensorsFile> file;
  nlohmann::json meta;
  double atol = 0;
};

Reference load_reference(const std::string& dir) {
  Reference x;
  x.file = SafetensorsFile::open(dir + "/reference.safetensors");
  std::ifstream in(dir + "/reference.json");
  x.meta = nlohmann::json::parse(in);
  x.atol = x.meta["atol"].get<double>();
  return x;
}

class T5Parity : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = folder(GetParam());
    if (!std::filesystem::exists(dir_ + "/reference.json"))
      GTEST_SKIP() << dir_ << " is absent: make it with tools/fixtures/make_seq2seq_fixtures.py (docs/testing.md)";
    ref_ = load_reference(dir_);
  }
  std::string dir_;
  Reference ref_;
};

std::vector<int32_t> ids_of(const nlohmann::json& j) {
  return j.get<std::vector<int32_t>>();
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

std::unique_ptr<EncoderDecoder> load_t5(const std::string& dir) {
  HfConfig config = HfConfig::load(dir);
  auto weights = WeightStore::open(dir);
  static std::vector<std::shared_ptr<WeightStore>> keep;  // the model reads the mapped weights
  keep.push_back(weights);
  return load_encoder_decoder(config, *weights, DType::F32, test_device());
}

TEST_P(T5Parity, TokenizerGivesTheReferenceIds) {
  auto tok = tok::Tokenizer::from_folder(dir_);
  for (const auto& g : ref_.meta["generations"])
    EXPECT_EQ(tok->encode(g["prompt"].get<std::string>()).ids, ids_of(g["input_ids"])) << g["prompt"];
}

TEST_P(T5Parity, EncoderOutputsAndDecoderLogits) {
  const Reference& ref = ref_;
  auto model = load_t5(dir_);
  const CausalLM& decoder = model->decoder();
  const int64_t V = decoder.config().vocab_size;
  size_t i = 0;
  for (const auto& g : ref.meta["generations"]) {
    SCOPED_TRACE(g["prompt"].get<std::string>());
    const std::vector<int32_t> ids = ids_of(g["input_ids"]);
    // The encoder: one packed step.
    StepBuilder builder(test_device());
    const StepInputs step = builder.encoder_step({ids}, {}, model->encoder().vocab_size());
    const Tensor hidden = model->encoder().forward(step).last_hidden_state;
    const Tensor want_hidden = ref.file->tensor(fmt::format("prompt{}_encoder_hidden", i));
    const double enc_err = max_err(ops::to_device(hidden, Device::cpu()), want_hidden);
    EXPECT_LE(enc_err, ref.atol) << "encoder last_hidden_state";

    const CrossKvCache cross = model->make_cross_cache(hidden, {0, static_cast<int64_t>(ids.size())});
    std::vector<int32_t> dec = {static_cast<int32_t>(ref.meta["decoder_start_token_id"].get<int64_t>())};
    for (int32_t t : ids_of(g["greedy_ids"])) dec.push_back(t);
    const Tensor want = ref.file->tensor(fmt::format("prompt{}_decoder_logits", i));
    ASSERT_EQ(want.shape(), (Shape{static_cast<int64_t>(dec.size()), V}));

    // The decoder tokens as one prompt, every row's logits.
    CausalStepRunner runner(decoder);
    runner.set_cross_cache(&cross);
    auto cache = decoder.make_cache(4, 16);
    const int64_t whole = cache->create_sequence();
    const Tensor all = runner.step({SeqChunk{whole, dec, 0}}, *cache, OutputRows::All);
    EXPECT_LE(max_err(all, want), ref.atol) << "decoder logits, one prompt";

    // Token by token over the paged self-attention cache, as generation runs it.
    const int64_t seq = cache->create_sequence();
    double step_err = 0;
    for (size_t t = 0; t < dec.size(); ++t) {
      const Tensor row = runner.step({SeqChunk{seq, std::span<const int32_t>(&dec[t], 1), 0}}, *cache);
      step_err = std::max(step_err, max_err(row, want.narrow(0, static_cast<int64_t>(t), 1)));
    }
    EXPECT_LE(step_err, ref.atol) << "decoder logits, token by token";
    std::cout << "[ t5       ] " << GetParam() << " prompt " << i << ": encoder max err " << enc_err
              << ", decoder step max err " << step_err << "\n";
    ++i;
  }
}

TEST_P(T5Parity, GreedyGenerationGivesTheReferenceIds) {
  const Reference& ref = ref_;
  auto gen = Generator::load(dir_, test_device(), DType::F32);
  ASSERT_NE(gen->encoder_decoder(), nullptr);
  GenerationRequest req;
  req.temperature = 0.0f;
  req.max_new_tokens = 16;
  req.ignore_eos = true;  // the reference does not stop at eos
  std::vector<std::vector<int32_t>> prompts, want;
  for (const auto& g : ref.meta["generations"]) {
    prompts.push_back(ids_of(g["input_ids"]));
    want.push_back(ids_of(g["greedy_ids"]));
  }
  // Each prompt alone, and all of them in one batch (one encoder step, one cross cache).
  for (size_t i = 0; i < prompts.size(); ++i)
    EXPECT_EQ(gen->generate_ids({prompts[i]}, req).at(0).ids, want[i]) << "prompt " << i;
  const std::vector<GenerationResult> batch = gen->generate_ids(prompts, req);
  ASSERT_EQ(batch.size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(batch[i].ids, want[i]) << "batched prompt " << i;
    EXPECT_EQ(batch[i].prompt_ids, prompts[i]);
    EXPECT_EQ(batch[i].finish_reason, "length");
  }
  // From text, tokenized as tokenizer.encode(prompt); the text is the ids decoded.
  const auto& g0 = ref.meta["generations"][0];
  GenerationResult r = gen->generate({g0["prompt"].get<std::string>()}, req).at(0);
  EXPECT_EQ(r.prompt_ids, prompts[0]);
  EXPECT_EQ(r.ids, want[0]);
  EXPECT_EQ(r.text, gen->tokenizer().decode(r.ids, true));
  // Beam search with one beam is greedy search.
  GenerationRequest one = req;
  one.num_beams = 1;
  EXPECT_EQ(gen->generate_ids({prompts[1]}, one).at(0).ids, want[1]);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, T5Parity, ::testing::Values("t5", "t5-v1_1"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param) == "t5" ? std::string("t5") : std::string("t5_v1_1");
                         });

}  // namespace
}  // namespace ia
