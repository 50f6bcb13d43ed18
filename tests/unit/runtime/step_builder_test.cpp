#include <gtest/gtest.h>

#include "core/error.h"
#include "runtime/embedding_endpoint.h"
#include "runtime/sequence_pooling.h"
#include "runtime/step_builder.h"

namespace ia {
namespace {

TEST(StepBuilder, EncoderStepPacksSequencesWithoutPadding) {
  const std::vector<int32_t> a = {2, 10, 11, 3}, b = {2, 12, 3}, ta = {0, 0, 0, 0}, tb = {0, 1, 1};
  StepBuilder builder(Device::cpu());
  StepInputs st = builder.encoder_step({a, b}, {ta, tb}, 20);
  EXPECT_EQ(st.num_tokens, 7);
  EXPECT_EQ(st.num_sequences, 2);
  EXPECT_EQ(st.max_seq_len, 4);
  auto i64 = [](const Tensor& t) { return std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.numel()); };
  EXPECT_EQ(i64(st.token_ids), (std::vector<int64_t>{2, 10, 11, 3, 2, 12, 3}));
  EXPECT_EQ(i64(st.token_types), (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(i64(st.positions), (std::vector<int64_t>{0, 1, 2, 3, 0, 1, 2}));
  EXPECT_EQ(std::vector<int32_t>(st.query_start.data<int32_t>(), st.query_start.data<int32_t>() + 3),
            (std::vector<int32_t>{0, 4, 7}));
  // A second, smaller step reuses the buffers and sees only its own rows.
  StepInputs again = builder.encoder_step({b}, {}, 20);
  EXPECT_EQ(i64(again.token_ids), (std::vector<int64_t>{2, 12, 3}));
  EXPECT_FALSE(again.token_types.defined());
  EXPECT_THROW(builder.encoder_step({std::vector<int32_t>{25}}, {}, 20), Error);  // outside the vocabulary
}

TEST(PoolMode, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(parse_pool_mode("cls"), PoolMode::Cls);
  EXPECT_EQ(parse_pool_mode("mean_sqrt_len"), PoolMode::MeanSqrtLen);
  EXPECT_STREQ(pool_mode_name(PoolMode::Max), "max");
  EXPECT_THROW(parse_pool_mode("median"), Error);
}

}  // namespace
}  // namespace ia

namespace ia {
namespace {

TEST(SequencePooling, EachSequencesRowsOnly) {
  // Two sequences of 2 and 3 rows, hidden size 2.
  const std::vector<int32_t> a = {1, 1}, b = {1, 1, 1};
  StepBuilder builder(Device::cpu());
  StepInputs st = builder.encoder_step({a, b}, {}, 4);
  Tensor h = Tensor::empty({5, 2}, DType::F32);
  const float rows[5][2] = {{1, 2}, {3, -4}, {5, 6}, {-7, 8}, {9, 1}};
  for (int r = 0; r < 5; ++r)
    for (int c = 0; c < 2; ++c) h.data<float>()[r * 2 + c] = rows[r][c];
  auto got = [&](PoolMode m) {
    Tensor p = pool_sequences(m, h, st);
    return std::vector<float>(p.data<float>(), p.data<float>() + p.numel());
  };
  EXPECT_EQ(got(PoolMode::Cls), (std::vector<float>{1, 2, 5, 6}));
  EXPECT_EQ(got(PoolMode::LastToken), (std::vector<float>{3, -4, 9, 1}));
  EXPECT_EQ(got(PoolMode::Max), (std::vector<float>{3, 2, 9, 8}));
  const std::vector<float> mean = got(PoolMode::Mean);
  EXPECT_FLOAT_EQ(mean[0], 2);
  EXPECT_FLOAT_EQ(mean[1], -1);
  EXPECT_FLOAT_EQ(mean[2], 7.0f / 3);
  EXPECT_FLOAT_EQ(mean[3], 5);
}

}  // namespace
}  // namespace ia
