// The paged KV cache's bookkeeping: append hands out slots block by block,
// truncate drops tokens and frees whole blocks (a partial block's slots are
// reused by the next append), grow enlarges the pools keeping their contents.
#include <gtest/gtest.h>

#include "core/error.h"
#include "models/kv_cache.h"

namespace ia {
namespace {

// 2 layers, 1 kv head, head_dim 2, blocks of 4 tokens, 6 blocks.
KvCache small_cache(int64_t blocks = 6) {
  return KvCache(2, 1, 2, 4, blocks, Device::cpu());
}

TEST(KvCache, TruncateMidBlockThenAppendReusesThePartialBlocksSlots) {
  KvCache c = small_cache();
  const int64_t s = c.create_sequence();
  const std::vector<int64_t> first = c.append(s, 10);  // blocks 0, 1 and half of 2
  ASSERT_EQ(c.block_table(s).size(), 3u);
  EXPECT_EQ(c.free_blocks(), 3);
  const std::vector<int32_t> table = c.block_table(s);

  c.truncate(s, 6);  // keeps block 0 and the first 2 slots of block 1
  EXPECT_EQ(c.length(s), 6);
  EXPECT_EQ(c.block_table(s), std::vector<int32_t>(table.begin(), table.begin() + 2));
  EXPECT_EQ(c.free_blocks(), 4);

  // The next tokens land in the slots the dropped positions 6, 7 had, then in a fresh block.
  const std::vector<int64_t> again = c.append(s, 4);
  EXPECT_EQ(again[0], first[6]);
  EXPECT_EQ(again[1], first[7]);
  EXPECT_EQ(again[2], int64_t{c.block_table(s)[2]} * 4);
  EXPECT_EQ(c.length(s), 10);
  EXPECT_EQ(c.free_blocks(), 3);
}

TEST(KvCache, TruncateOnABlockBoundaryAndToZeroFreesBlocks) {
  KvCache c = small_cache();
  const int64_t s = c.create_sequence(), other = c.create_sequence();
  c.append(s, 12);
  c.append(other, 5);
  EXPECT_EQ(c.free_blocks(), 1);
  c.truncate(s, 8);
  EXPECT_EQ(c.block_table(s).size(), 2u);
  EXPECT_EQ(c.free_blocks(), 2);
  c.truncate(s, 8);  // same length: nothing changes
  EXPECT_EQ(c.free_blocks(), 2);
  c.truncate(s, 0);
  EXPECT_TRUE(c.block_table(s).empty());
  EXPECT_EQ(c.length(s), 0);
  EXPECT_EQ(c.free_blocks(), 4);
  EXPECT_EQ(c.length(other), 5);  // other sequences keep their tokens
  // The whole pool but `other`'s blocks is available again.
  c.append(s, 16);
  EXPECT_EQ(c.free_blocks(), 0);
  EXPECT_THROW(c.append(s, 1), Error);
}

// A beam continuing another: the child holds the parent's full blocks and a copy of its partial
// one, so tokens appended to either never land in the other's slots; both keep the K/V written.
TEST(KvCache, ForkSharesFullBlocksAndCopiesThePartialOne) {
  KvCache c = small_cache(8);
  const int64_t parent = c.create_sequence();
  const std::vector<int64_t> slots = c.append(parent, 6);  // block a full, block b half
  for (int64_t layer = 0; layer < 2; ++layer)
    for (size_t i = 0; i < slots.size(); ++i) {
      c.k(layer).data<float>()[slots[i] * 2] = static_cast<float>(100 * layer + i);
      c.v(layer).data<float>()[slots[i] * 2] = static_cast<float>(-100 * layer - static_cast<int64_t>(i));
    }
  const int64_t child = c.fork(parent);
  EXPECT_EQ(c.length(child), 6);
  ASSERT_EQ(c.block_table(child).size(), 2u);
  EXPECT_EQ(c.block_table(child)[0], c.block_table(parent)[0]);  // the full block, shared
  EXPECT_NE(c.block_table(child)[1], c.block_table(parent)[1]);  // the partial one, copied
  EXPECT_EQ(c.holders(c.block_table(parent)[0]), 2);
  EXPECT_EQ(c.free_blocks(), 5);
  for (int64_t layer = 0; layer < 2; ++layer)
    for (int64_t p = 4; p < 6; ++p) {
      const int64_t slot = int64_t{c.block_table(child)[1]} * 4 + p % 4;
      EXPECT_EQ(c.k(layer).data<float>()[slot * 2], static_cast<float>(100 * layer + p));
      EXPECT_EQ(c.v(layer).data<float>()[slot * 2], static_cast<float>(-100 * layer - p));
    }
  const std::vector<int64_t> a = c.append(parent, 1), b = c.append(child, 1);
  EXPECT_NE(a[0], b[0]);
  c.release(parent);
  EXPECT_EQ(c.holders(c.block_table(child)[0]), 1);
  c.release(child);
  EXPECT_EQ(c.free_blocks(), 8);
  // Forking an empty sequence, or one on a block boundary, copies nothing.
  const int64_t e = c.create_sequence();
  c.release(c.fork(e));
  c.append(e, 4);
  const int64_t f = c.fork(e);
  EXPECT_EQ(c.block_table(f), c.block_table(e));
  c.release(f);
  c.release(e);
  EXPECT_EQ(c.free_blocks(), 8);
}

TEST(KvCache, TruncateErrors) {
  KvCache c = small_cache();
  const int64_t s = c.create_sequence();
  c.append(s, 5);
  try {
    c.truncate(s, 6);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
  }
  EXPECT_THROW(c.truncate(s, -1), Error);
  EXPECT_THROW(c.truncate(s + 7, 0), Error);
  EXPECT_EQ(c.length(s), 5);
  EXPECT_EQ(c.free_blocks(), 4);
}

TEST(KvCache, GrowKeepsContentsAndAddsFreeBlocks) {
  KvCache c = small_cache(2);
  const int64_t s = c.create_sequence();
  const std::vector<int64_t> slots = c.append(s, 6);
  for (int64_t l = 0; l < 2; ++l) {
    float* k = c.k(l).data<float>();
    float* v = c.v(l).data<float>();
    for (int64_t slot : slots)
      for (int64_t d = 0; d < 2; ++d) {
        k[slot * 2 + d] = static_cast<float>(100 * l + 10 * slot + d);
        v[slot * 2 + d] = -static_cast<float>(100 * l + 10 * slot + d);
      }
  }
  EXPECT_THROW(c.append(s, 3), Error);  // 9 tokens need 3 blocks of 4
  EXPECT_EQ(c.length(s), 6);
  c.grow(5);
  EXPECT_EQ(c.num_blocks(), 5);
  EXPECT_EQ(c.free_blocks(), 3);
  EXPECT_EQ(c.k(1).size(0), 5);
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t slot : slots)
      for (int64_t d = 0; d < 2; ++d) {
        EXPECT_EQ(c.k(l).data<float>()[slot * 2 + d], static_cast<float>(100 * l + 10 * slot + d));
        EXPECT_EQ(c.v(l).data<float>()[slot * 2 + d], -static_cast<float>(100 * l + 10 * slot + d));
      }
  const std::vector<int64_t> more = c.append(s, 3);
  EXPECT_EQ(more[0], slots[5] + 1);  // the rest of the partial block first
  EXPECT_EQ(more[1], slots[5] + 2);
  EXPECT_GE(more[2] / 4, 2);  // the third block is one of the new ones
  c.grow(3);                  // never shrinks
  EXPECT_EQ(c.num_blocks(), 5);
}

}  // namespace
}  // namespace ia

namespace ia {
namespace {

TEST(KvCacheReserve, IsAllOrNothingAcrossSequences) {
  KvCache c = small_cache();  // 6 blocks of 4
  const int64_t a = c.create_sequence(), b = c.create_sequence();
  c.append(a, 3);  // one block, 5 free
  const std::vector<int32_t> table = c.block_table(a);
  // a would take 2 more blocks and b 5: 7 > 5, so neither grows. Appending chunk by chunk
  // (the old forward) grew a before b failed and left a with 6 tokens whose K/V never came.
  try {
    c.reserve({{a, 6}, {b, 17}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
  }
  EXPECT_EQ(c.length(a), 3);
  EXPECT_EQ(c.block_table(a), table);
  EXPECT_EQ(c.length(b), 0);
  EXPECT_TRUE(c.block_table(b).empty());
  EXPECT_EQ(c.free_blocks(), 5);
  // Bad requests change nothing either.
  EXPECT_THROW(c.reserve({{a, 1}, {a, 1}}), Error);
  EXPECT_THROW(c.reserve({{a, 1}, {99, 1}}), Error);
  EXPECT_THROW(c.reserve({{a, 1}, {b, -1}}), Error);
  EXPECT_EQ(c.length(a), 3);
  EXPECT_EQ(c.free_blocks(), 5);
}

TEST(KvCacheReserve, SlotsFollowEachSequencesBlocksAndRollbackRestores) {
  KvCache c = small_cache();
  const int64_t a = c.create_sequence(), b = c.create_sequence();
  c.append(a, 3);
  KvCache::Reservation r = c.reserve({{a, 2}, {b, 5}});
  ASSERT_EQ(r.slots.size(), 7u);
  EXPECT_EQ(c.length(a), 5);
  EXPECT_EQ(c.length(b), 5);
  // a's positions 3, 4: the last slot of its first block, then the first of a new one.
  EXPECT_EQ(r.slots[0], int64_t{c.block_table(a)[0]} * 4 + 3);
  EXPECT_EQ(r.slots[1], int64_t{c.block_table(a)[1]} * 4);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(r.slots[static_cast<size_t>(2 + i)], int64_t{c.block_table(b)[static_cast<size_t>(i / 4)]} * 4 + i % 4);
  EXPECT_EQ(c.free_blocks(), 2);
  c.rollback(r);
  EXPECT_EQ(c.length(a), 3);
  EXPECT_EQ(c.block_table(a).size(), 1u);
  EXPECT_EQ(c.length(b), 0);
  EXPECT_EQ(c.free_blocks(), 5);
}

}  // namespace
}  // namespace ia
