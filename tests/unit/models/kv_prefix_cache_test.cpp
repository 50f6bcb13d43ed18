// Reference-counted blocks and the prefix cache of the paged KV cache: sequences
// share full blocks copy-free, released cached blocks stay findable until the room
// is needed (least recently released first), a hit is exact (parent and tokens
// checked), and writing into a shared block copies it first.
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "models/kv_block_pool.h"
#include "models/kv_cache.h"

namespace ia {
namespace {

std::vector<int32_t> tokens(int32_t first, int n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), first);
  return v;
}

TEST(KvBlockPool, HoldersFreeListAndEvictionOrder) {
  KvBlockPool pool(4);
  EXPECT_EQ(pool.available(), 4);
  const int32_t a = pool.allocate(), b = pool.allocate(), c = pool.allocate();
  EXPECT_EQ(a, 0);  // lowest id first
  EXPECT_EQ(pool.available(), 1);
  const std::vector<int32_t> ta = tokens(0, 4), tb = tokens(4, 4), tc = tokens(8, 4);
  ASSERT_TRUE(pool.remember(a, KvBlockPool::kNoParent, ta));
  ASSERT_TRUE(pool.remember(b, a, tb));
  EXPECT_FALSE(pool.remember(c, a, tb));  // an equal block is cached already
  EXPECT_EQ(pool.find(KvBlockPool::kNoParent, ta), a);
  EXPECT_EQ(pool.find(a, tb), b);
  EXPECT_EQ(pool.find(b, tb), -1);                       // another parent
  EXPECT_EQ(pool.find(KvBlockPool::kNoParent, tb), -1);  // not a first block
  pool.hold(a);
  EXPECT_EQ(pool.holders(a), 2);
  pool.release(a);
  // Released in the order b, a (a sequence lets go of its last block first): b is evicted first.
  pool.release(b);
  pool.release(a);
  pool.release(c);  // not cached: free
  EXPECT_EQ(pool.available(), 4);
  EXPECT_EQ(pool.evictable(), 2);
  EXPECT_EQ(pool.allocate(), c);  // free blocks go before cached ones
  EXPECT_EQ(pool.allocate(), 3);
  EXPECT_EQ(pool.allocate(), b);  // the least recently released cached block
  EXPECT_EQ(pool.find(a, tb), -1);
  EXPECT_EQ(pool.find(KvBlockPool::kNoParent, ta), a);
  pool.hold(a);  // a cached unheld block can be held again
  EXPECT_EQ(pool.evictable(), 0);
  EXPECT_EQ(pool.available(), 0);
  EXPECT_THROW(pool.allocate(), Error);
}

TEST(KvBlockPool, ChildrenOfAnEvictedParentNoLongerMatch) {
  KvBlockPool pool(2);
  const int32_t parent = pool.allocate(), child = pool.allocate();
  const std::vector<int32_t> t0 = tokens(0, 4), t1 = tokens(4, 4), other = tokens(100, 4);
  ASSERT_TRUE(pool.remember(parent, KvBlockPool::kNoParent, t0));
  ASSERT_TRUE(pool.remember(child, parent, t1));
  pool.forget(parent);  // its content changes
  ASSERT_TRUE(pool.remember(parent, KvBlockPool::kNoParent, other));
  // The same block id is the parent again, but of other content: the child is stale.
  EXPECT_EQ(pool.find(parent, t1), -1);
  EXPECT_EQ(pool.find(KvBlockPool::kNoParent, t0), -1);
  EXPECT_EQ(pool.find(KvBlockPool::kNoParent, other), parent);
}

// 1 layer, 1 kv head, head_dim 2, blocks of 4 tokens.
KvCache small_cache(int64_t blocks) {
  return KvCache(1, 1, 2, 4, blocks, Device::cpu());
}

TEST(KvCachePrefix, SharedBlocksAreHeldByBothAndCachedAfterRelease) {
  KvCache c = small_cache(6);
  const std::vector<int32_t> prompt = tokens(10, 10);  // two full blocks and a partial one
  const int64_t a = c.create_sequence();
  c.append(a, 10);
  c.cache_full_blocks(a, prompt);
  EXPECT_EQ(c.cached_blocks(), 2);
  const std::vector<int32_t> hit = c.cached_prefix(prompt, 100);
  ASSERT_EQ(hit.size(), 2u);
  EXPECT_EQ(hit[0], c.block_table(a)[0]);
  EXPECT_EQ(hit[1], c.block_table(a)[1]);
  EXPECT_EQ(c.cached_prefix(prompt, 1).size(), 1u);
  std::vector<int32_t> diverging = prompt;
  diverging[5] = 999;  // in the second block
  EXPECT_EQ(c.cached_prefix(diverging, 100).size(), 1u);

  const int64_t b = c.create_sequence(hit);
  EXPECT_EQ(c.length(b), 8);
  EXPECT_EQ(c.holders(hit[0]), 2);
  EXPECT_EQ(c.free_blocks(), 3);  // shared blocks are not taken twice
  const std::vector<int64_t> slots = c.append(b, 3);
  EXPECT_EQ(slots[0] / 4, c.block_table(b)[2]);  // b's own block
  EXPECT_NE(c.block_table(b)[2], c.block_table(a)[2]);
  c.release(a);
  EXPECT_EQ(c.holders(hit[0]), 1);
  EXPECT_EQ(c.free_blocks(), 3);
  c.release(b);
  EXPECT_EQ(c.free_blocks(), 6);  // cached unheld blocks count as free
  EXPECT_EQ(c.evictable_blocks(), 2);
  EXPECT_EQ(c.cached_prefix(prompt, 100), hit);  // still there after both are gone

  // Taking the whole pool evicts them.
  const int64_t big = c.create_sequence();
  c.append(big, 24);
  EXPECT_TRUE(c.cached_prefix(prompt, 100).empty());
  EXPECT_EQ(c.cached_blocks(), 0);
}

TEST(KvCachePrefix, AnEqualPrefixComputedTwiceIsCachedOnce) {
  KvCache c = small_cache(4);
  const std::vector<int32_t> prompt = tokens(0, 8);
  const int64_t a = c.create_sequence(), b = c.create_sequence();
  c.append(a, 8);
  c.append(b, 8);
  c.cache_full_blocks(a, prompt);
  c.cache_full_blocks(b, prompt);
  EXPECT_EQ(c.cached_blocks(), 2);
  EXPECT_EQ(c.cached_prefix(prompt, 100), c.block_table(a));
  c.release(b);
  c.release(a);
  EXPECT_EQ(c.free_blocks(), 4);
  EXPECT_EQ(c.evictable_blocks(), 2);
}

TEST(KvCachePrefix, TruncatingIntoASharedBlockCopiesItFirst) {
  KvCache c = small_cache(4);
  const std::vector<int32_t> prompt = tokens(0, 8);
  const int64_t a = c.create_sequence();
  const std::vector<int64_t> slots = c.append(a, 8);
  for (int64_t slot : slots) {
    c.k(0).data<float>()[slot * 2] = static_cast<float>(slot);
    c.v(0).data<float>()[slot * 2 + 1] = -static_cast<float>(slot);
  }
  c.cache_full_blocks(a, prompt);
  const int64_t b = c.create_sequence(c.cached_prefix(prompt, 100));
  const int32_t shared = c.block_table(b)[1];
  c.truncate(b, 6);  // its next token goes into slot 2 of the second block
  const int32_t own = c.block_table(b)[1];
  EXPECT_NE(own, shared);
  EXPECT_EQ(c.block_table(b)[0], c.block_table(a)[0]);
  EXPECT_EQ(c.holders(shared), 1);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(c.k(0).data<float>()[(own * 4 + i) * 2], static_cast<float>(shared * 4 + i));
    EXPECT_EQ(c.v(0).data<float>()[(own * 4 + i) * 2 + 1], -static_cast<float>(shared * 4 + i));
  }
  EXPECT_EQ(c.append(b, 1)[0], own * 4 + 2);
  EXPECT_EQ(c.cached_prefix(prompt, 100).size(), 2u);  // a's blocks are untouched

  // A cached block only this sequence holds leaves the cache instead.
  c.release(b);
  c.truncate(a, 7);
  EXPECT_EQ(c.cached_prefix(prompt, 100).size(), 1u);
  c.cache_full_blocks(a, std::span<const int32_t>(prompt).first(7));  // nothing new is full
  EXPECT_EQ(c.cached_blocks(), 1);
}

TEST(KvCachePrefix, CopyingASharedBlockNeedsAFreeBlock) {
  KvCache c = small_cache(2);
  const std::vector<int32_t> prompt = tokens(0, 8);
  const int64_t a = c.create_sequence();
  c.append(a, 8);
  c.cache_full_blocks(a, prompt);
  const int64_t b = c.create_sequence(c.cached_prefix(prompt, 100));
  try {
    c.truncate(b, 6);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unavailable);
  }
  EXPECT_EQ(c.length(b), 8);
  EXPECT_EQ(c.block_table(b), c.block_table(a));
}

TEST(KvCachePrefix, BlocksGivenAheadAreCachedBeforeTheStepAndUsedByIt) {
  KvCache c = small_cache(6);
  const std::vector<int32_t> prompt = tokens(0, 10);
  const int64_t a = c.create_sequence();
  c.allocate_blocks(a, 10);
  EXPECT_EQ(c.length(a), 0);
  EXPECT_EQ(c.block_table(a).size(), 3u);
  EXPECT_EQ(c.free_blocks(), 3);
  const std::vector<int32_t> cached = c.cache_full_blocks(a, prompt);
  EXPECT_EQ(cached.size(), 2u);
  EXPECT_TRUE(c.cache_full_blocks(a, prompt).empty());  // already cached
  EXPECT_EQ(c.cached_prefix(prompt, 100).size(), 2u);
  const std::vector<int32_t> table = c.block_table(a);
  const std::vector<int64_t> slots = c.reserve({{a, 10}}).slots;
  EXPECT_EQ(c.block_table(a), table);  // the reservation used the blocks given ahead
  EXPECT_EQ(slots[9], int64_t{table[2]} * 4 + 1);
  EXPECT_EQ(c.free_blocks(), 3);
  EXPECT_THROW(c.allocate_blocks(a, 40), Error);  // 10 blocks: more than the pool
  EXPECT_EQ(c.block_table(a).size(), 3u);
  c.uncache(cached);
  EXPECT_EQ(c.cached_blocks(), 0);
  c.release(a);
  EXPECT_EQ(c.free_blocks(), 6);
  EXPECT_EQ(c.evictable_blocks(), 0);
}

TEST(KvCachePrefix, RollingBackAStepReturnsTheBlocksGivenAhead) {
  KvCache c = small_cache(6);
  const int64_t a = c.create_sequence();
  c.append(a, 3);
  c.allocate_blocks(a, 9);
  EXPECT_EQ(c.free_blocks(), 3);
  const KvCache::Reservation r = c.reserve({{a, 6}});
  c.rollback(r);
  EXPECT_EQ(c.length(a), 3);
  EXPECT_EQ(c.block_table(a).size(), 1u);
  EXPECT_EQ(c.free_blocks(), 5);
}

}  // namespace
}  // namespace ia
