#include <gtest/gtest.h>

#include "core/error.h"
#include "runtime/embedding_endpoint.h"
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
