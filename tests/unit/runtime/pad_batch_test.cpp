#include <gtest/gtest.h>

#include "core/error.h"
#include "runtime/embedding_endpoint.h"

namespace ia {
namespace {

TEST(PadBatch, RightPadsToTheLongestAndMasks) {
  tok::Encoding a, b;
  a.ids = {2, 10, 11, 3};
  a.type_ids = {0, 0, 0, 0};
  b.ids = {2, 12, 3};
  b.type_ids = {0, 1, 1};
  EncodedBatch batch = pad_batch({&a, &b}, 0);
  ASSERT_EQ(batch.input_ids.shape(), (Shape{2, 4}));
  EXPECT_EQ(std::vector<int64_t>(batch.input_ids.data<int64_t>(), batch.input_ids.data<int64_t>() + 8),
            (std::vector<int64_t>{2, 10, 11, 3, 2, 12, 3, 0}));
  EXPECT_EQ(std::vector<int64_t>(batch.attention_mask.data<int64_t>(), batch.attention_mask.data<int64_t>() + 8),
            (std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 0}));
  EXPECT_EQ(std::vector<int64_t>(batch.token_type_ids.data<int64_t>(), batch.token_type_ids.data<int64_t>() + 8),
            (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1, 0}));
}

TEST(PoolMode, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(parse_pool_mode("cls"), PoolMode::Cls);
  EXPECT_EQ(parse_pool_mode("mean_sqrt_len"), PoolMode::MeanSqrtLen);
  EXPECT_STREQ(pool_mode_name(PoolMode::Max), "max");
  EXPECT_THROW(parse_pool_mode("median"), Error);
}

}  // namespace
}  // namespace ia
