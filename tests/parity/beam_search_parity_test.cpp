// Beam search against transformers' generate(num_beams=N, num_return_sequences=N): every
// returned hypothesis (ids and sequences_scores) for the cases of each fixture's beam_cases.json
// (tools/fixtures/make_seq2seq_fixtures.py: the t5 and t5-v1_1 encoder-decoders and the gpt2
// decoder; num_beams 2-4, length penalties 0.5-2, early_stopping false / true / "never",
// no_repeat_ngram_size 0-3, finished hypotheses through a token the model emits made the eos).
// A fixture without beam_cases.json is skipped, saying so: the cases are made on the GPU machine.
// Runs on IA_TEST_DEVICE.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "runtime/beam_search.h"
#include "runtime/generation.h"
#include "runtime/step_builder.h"
#include "runtime/step_runner.h"
#include "test_device.h"

namespace ia {
namespace {

class BeamParity : public ::testing::TestWithParam<const char*> {};

TEST_P(BeamParity, HypothesesAndScoresAreTransformers) {
  const std::string dir = std::string(IA_FIXTURES_DIR) + "/models/" + GetParam();
  const std::string path = dir + "/beam_cases.json";
  if (!std::filesystem::exists(path))
    GTEST_SKIP() << path << " is absent: make it with tools/fixtures/make_seq2seq_fixtures.py (docs/testing.md)";
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in);
  auto gen = Generator::load(dir, test_device(), DType::F32);
  const CausalLM& model = gen->model();
  const EncoderDecoder* ed = gen->encoder_decoder();
  int checked = 0;
  for (const auto& c : j["cases"]) {
    const auto& p = c["params"];
    const std::vector<int32_t> ids = c["input_ids"].get<std::vector<int32_t>>();
    SCOPED_TRACE(p.dump());
    BeamSearchParams bp;
    bp.num_beams = p["num_beams"].get<int64_t>();
    bp.length_penalty = p["length_penalty"].get<float>();
    bp.early_stopping = p["early_stopping"].is_string()   ? parse_early_stopping(p["early_stopping"].get<std::string>())
                        : p["early_stopping"].get<bool>() ? EarlyStopping::Done
                                                          : EarlyStopping::Heuristic;
    bp.max_new_tokens = p["max_new_tokens"].get<int64_t>();
    bp.eos_token_ids = p["eos_token_id"].get<std::vector<int64_t>>();
    bp.processors.no_repeat_ngram_size = p["no_repeat_ngram_size"].get<int64_t>();

    CausalStepRunner runner(model);
    std::optional<CrossKvCache> cross;
    std::vector<int32_t> prompt = ids;
    if (ed) {
      StepBuilder builder(test_device());
      const StepInputs step = builder.encoder_step({ids}, {}, ed->encoder().vocab_size());
      cross =
          ed->make_cross_cache(ed->encoder().forward(step).last_hidden_state, {0, static_cast<int64_t>(ids.size())});
      runner.set_cross_cache(&*cross);
      prompt = {j["decoder_start_token_id"].get<int32_t>()};
    }
    auto cache = model.make_cache(beam_search_blocks(bp, static_cast<int64_t>(prompt.size()), 16), 16);
    const std::vector<BeamHypothesis> hyps =
        beam_search(runner, *cache, prompt, cross ? 0 : -1, model.config().vocab_size, bp);
    const auto want = c["sequences"].get<std::vector<std::vector<int32_t>>>();
    const auto scores = c["scores"].get<std::vector<double>>();
    ASSERT_EQ(hyps.size(), want.size());
    for (size_t h = 0; h < want.size(); ++h) {
      EXPECT_EQ(hyps[h].ids, want[h]) << "hypothesis " << h;
      EXPECT_NEAR(hyps[h].score, scores[h], 1e-4 * std::max(1.0, std::fabs(scores[h]))) << "hypothesis " << h;
    }
    ++checked;
  }
  std::cout << "[ beams    ] " << GetParam() << ": " << checked << " cases\n";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BeamParity, ::testing::Values("t5", "t5-v1_1", "gpt2"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace ia
