// Decode steps replayed from a recording (CUDA graphs, runtime/recorded_steps.h) give what the
// same steps give op by op: the same token streams through sequences that cross the recorded
// block-table width (128 tokens), a batch that shrinks midway, logits and on-device greedy ids
// in turn. On a backend that runs ops as they are called (the CPU) nothing is recorded: skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "backends/backend.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/decoder_lm.h"
#include "runtime/step_runner.h"
#include "test_device.h"

namespace ia {
namespace {

struct StepOutputs {
  std::vector<std::vector<float>> logits;  // even steps: each row's logits
  std::vector<std::vector<int32_t>> ids;   // odd steps: greedy ids (recorded) or argmax of logits
};

class DecoderReplay : public ::testing::TestWithParam<const char*> {};

StepOutputs run_steps(const CausalLM& model, bool record, int64_t steps) {
  setenv("IA_CUDA_GRAPHS", record ? "1" : "0", 1);
  CausalStepRunner runner(model);
  unsetenv("IA_CUDA_GRAPHS");
  const int64_t V = model.config().vocab_size;
  auto cache = model.make_cache(64);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(V - 1));
  std::vector<std::vector<int32_t>> prompts;
  for (int n : {5, 17, 33}) {
    prompts.emplace_back();
    for (int i = 0; i < n; ++i) prompts.back().push_back(id(rng));
  }
  std::vector<int64_t> seqs;
  std::vector<SeqChunk> chunks;
  for (const auto& p : prompts) {
    seqs.push_back(cache->create_sequence());
    chunks.push_back({seqs.back(), p});
  }
  runner.step(chunks, *cache);
  StepOutputs out;
  std::vector<int32_t> next(seqs.size());
  for (int64_t s = 0; s < steps; ++s) {
    if (s == steps / 3) {  // the batch shrinks: another recorded shape
      cache->release(seqs[1]);
      seqs.erase(seqs.begin() + 1);
    }
    chunks.clear();
    for (size_t i = 0; i < seqs.size(); ++i) {
      next[i] = id(rng);  // inputs independent of outputs: both runs see the same tokens
      chunks.push_back({seqs[i], std::span<const int32_t>(&next[i], 1)});
    }
    if (s % 2 == 0 || !record) {
      Tensor logits = runner.step(chunks, *cache);
      std::vector<float> rows(logits.data<float>(), logits.data<float>() + logits.numel());
      if (s % 2 == 0) {
        out.logits.push_back(std::move(rows));
      } else {
        std::vector<int32_t> best;
        for (int64_t r = 0; r < logits.size(0); ++r)
          best.push_back(static_cast<int32_t>(std::max_element(&rows[r * V], &rows[r * V] + V) - &rows[r * V]));
        out.ids.push_back(best);
        out.logits.push_back(std::move(rows));  // for the tie check below
      }
    } else {
      out.ids.push_back(runner.step_greedy(chunks, *cache));
      out.logits.emplace_back();
    }
  }
  return out;
}

TEST_P(DecoderReplay, ReplayedDecodeStepsEqualOpByOp) {
  const Device device = test_device();
  if (!backend_for(device).can_record())
    GTEST_SKIP() << device.str() << " runs ops as they are called: nothing to record (IA_TEST_DEVICE=cuda on a GPU)";
  const std::string dir = std::string(IA_FIXTURES_DIR) + "/models/" + GetParam();
  auto weights = WeightStore::open(dir);
  auto model = DecoderLM::load(HfConfig::load(dir), *weights, DType::F32, device);
  const int64_t V = model->config().vocab_size;
  const int64_t steps = std::min<int64_t>(150, model->config().max_positions - 34);
  const StepOutputs replayed = run_steps(*model, true, steps), op_by_op = run_steps(*model, false, steps);
  ASSERT_EQ(replayed.logits.size(), op_by_op.logits.size());
  double worst = 0;
  size_t id_step = 0;
  for (size_t s = 0; s < replayed.logits.size(); ++s) {
    if (s % 2 == 0) {
      const auto &a = replayed.logits[s], &b = op_by_op.logits[s];
      ASSERT_EQ(a.size(), b.size()) << "step " << s;
      for (size_t i = 0; i < a.size(); ++i) {
        const double err = std::fabs(a[i] - b[i]) / (1e-3 + std::fabs(b[i]));
        worst = std::max(worst, err);
        ASSERT_LE(std::fabs(a[i] - b[i]), 1e-4 * (1 + std::fabs(b[i]))) << "step " << s << " element " << i;
      }
    } else {
      const auto &a = replayed.ids[id_step], &b = op_by_op.ids[id_step];
      ++id_step;
      ASSERT_EQ(a.size(), b.size()) << "step " << s;
      const auto& logits = op_by_op.logits[s];
      for (size_t r = 0; r < a.size(); ++r) {
        if (a[r] == b[r]) continue;
        // Only a near-tie may come out the other way.
        const double gap = std::fabs(logits[r * V + a[r]] - logits[r * V + b[r]]);
        EXPECT_LE(gap, 1e-4) << "step " << s << " row " << r << ": greedy " << a[r] << " vs " << b[r];
      }
    }
  }
  std::cout << "[ replay   ] " << GetParam() << ": " << steps << " steps, worst relative logit difference " << worst
            << "\n";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DecoderReplay, ::testing::Values("llama", "qwen2", "qwen3", "gpt2", "mistral"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

}  // namespace
}  // namespace ia
