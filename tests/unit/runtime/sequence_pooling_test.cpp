// Pooling that leaves a prompt's rows out (sentence-transformers' include_prompt false):
// mean / max / mean_sqrt_len skip each sequence's first rows, keeping at least its last;
// cls and lasttoken are unchanged.
#include "runtime/sequence_pooling.h"

#include <gtest/gtest.h>

#include <cmath>

#include "runtime/step_builder.h"

namespace ia {
namespace {

TEST(SequencePooling, SkipsTheFirstRowsOfEachSequence) {
  const std::vector<int32_t> a = {1, 1, 1}, b = {1, 1};  // 3 and 2 rows, hidden size 1
  StepBuilder builder(Device::cpu());
  StepInputs st = builder.encoder_step({a, b}, {}, 4);
  Tensor h = Tensor::from_vector(std::vector<float>{1, 2, 6, 10, 20}, {5, 1});
  auto pooled = [&](PoolMode m, int64_t skip) {
    Tensor p = pool_sequences(m, h, st, skip);
    return std::vector<float>(p.data<float>(), p.data<float>() + p.numel());
  };
  EXPECT_EQ(pooled(PoolMode::Mean, 0), (std::vector<float>{3, 15}));
  EXPECT_EQ(pooled(PoolMode::Mean, 1), (std::vector<float>{4, 20}));
  EXPECT_EQ(pooled(PoolMode::Mean, 5), (std::vector<float>{6, 20}));  // at least the last row stays
  EXPECT_EQ(pooled(PoolMode::Max, 1), (std::vector<float>{6, 20}));
  const std::vector<float> sqrt_len = pooled(PoolMode::MeanSqrtLen, 1);
  EXPECT_FLOAT_EQ(sqrt_len[0], 8 / std::sqrt(2.0f));
  EXPECT_FLOAT_EQ(sqrt_len[1], 20);
  EXPECT_EQ(pooled(PoolMode::Cls, 1), (std::vector<float>{1, 10}));
  EXPECT_EQ(pooled(PoolMode::LastToken, 1), (std::vector<float>{6, 20}));
}

}  // namespace
}  // namespace ia
