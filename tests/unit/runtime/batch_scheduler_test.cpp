// The continuous-batching scheduler's decisions, without a model: chunked prefill
// within the token budget, running sequences before new ones, first come first
// served admission by free blocks, preemption of the youngest when a block runs
// out, and prefix-cache hits that start a sequence past its cached blocks.
#include <gtest/gtest.h>

#include <numeric>

#include "runtime/batch_scheduler.h"

namespace ia {
namespace {

// 1 layer, 1 kv head, head_dim 2, blocks of 4 tokens.
KvCache small_cache(int64_t blocks) {
  return KvCache(1, 1, 2, 4, blocks, Device::cpu());
}

ScheduledSequence sequence(int n, int32_t first = 10) {
  ScheduledSequence s;
  s.tokens.resize(static_cast<size_t>(n));
  std::iota(s.tokens.begin(), s.tokens.end(), first);
  return s;
}

// What the engine does after a step: the cache holds the chunks' K/V (the step
// reserved them), and each sampling chunk's sequence gets its next token.
void run(KvCache& cache, BatchScheduler& sched, const Schedule& s) {
  std::vector<std::pair<int64_t, int64_t>> want;
  for (const ScheduledChunk& c : s.chunks) want.emplace_back(c.seq->cache_seq, c.count);
  cache.reserve(want);
  sched.step_done(s);
  for (const ScheduledChunk& c : s.chunks)
    if (c.samples) c.seq->tokens.push_back(7);
}

TEST(BatchScheduler, ChunksPromptsWithinTheTokenBudgetAndRunsRunningSequencesFirst) {
  KvCache cache = small_cache(16);
  BatchScheduler sched(cache, SchedulerLimits{8, 6, true});
  ScheduledSequence a = sequence(10), b = sequence(3, 50);
  sched.add(&a);
  sched.add(&b);
  Schedule s = sched.schedule();
  ASSERT_EQ(s.chunks.size(), 1u);  // a's first 6 tokens use the whole budget
  EXPECT_EQ(s.chunks[0].seq, &a);
  EXPECT_EQ(s.chunks[0].count, 6);
  EXPECT_FALSE(s.chunks[0].samples);
  run(cache, sched, s);
  EXPECT_EQ(a.computed, 6);
  s = sched.schedule();  // the rest of a, then what the budget leaves of b
  ASSERT_EQ(s.chunks.size(), 2u);
  EXPECT_EQ(s.chunks[0].count, 4);
  EXPECT_TRUE(s.chunks[0].samples);
  EXPECT_EQ(s.chunks[1].seq, &b);
  EXPECT_EQ(s.chunks[1].count, 2);
  EXPECT_FALSE(s.chunks[1].samples);
  run(cache, sched, s);
  s = sched.schedule();  // a decodes, b finishes its prompt
  ASSERT_EQ(s.chunks.size(), 2u);
  EXPECT_EQ(s.chunks[0].count, 1);
  EXPECT_EQ(s.chunks[1].count, 1);
  EXPECT_TRUE(s.chunks[1].samples);
  EXPECT_EQ(s.tokens, 2);
}

TEST(BatchScheduler, AdmitsFirstComeFirstServedWhileBlocksAreFree) {
  KvCache cache = small_cache(4);
  BatchScheduler sched(cache, SchedulerLimits{8, 64, true});
  ScheduledSequence a = sequence(8), b = sequence(9, 30), c = sequence(2, 60);
  sched.add(&a);
  sched.add(&b);  // 3 blocks: does not fit beside a's 2
  sched.add(&c);  // would fit, but waits behind b
  Schedule s = sched.schedule();
  ASSERT_EQ(s.chunks.size(), 1u);
  EXPECT_EQ(s.chunks[0].seq, &a);
  EXPECT_EQ(sched.waiting().size(), 2u);
  EXPECT_EQ(sched.waiting().front(), &b);
  run(cache, sched, s);
  sched.remove(&a);  // finished: its blocks are free again
  EXPECT_EQ(cache.free_blocks(), 4);
  s = sched.schedule();
  ASSERT_EQ(s.chunks.size(), 2u);
  EXPECT_EQ(s.chunks[0].seq, &b);
  EXPECT_EQ(s.chunks[1].seq, &c);
}

TEST(BatchScheduler, PreemptsTheYoungestWhenABlockRunsOut) {
  KvCache cache = small_cache(4);
  BatchScheduler sched(cache, SchedulerLimits{8, 64, false});
  ScheduledSequence a = sequence(7), b = sequence(7, 40);
  sched.add(&a);
  sched.add(&b);
  run(cache, sched, sched.schedule());  // both prefilled: 2 blocks each, the pool is full
  run(cache, sched, sched.schedule());  // position 7 still fits their second blocks
  ASSERT_EQ(a.tokens.size(), 9u);
  Schedule s = sched.schedule();  // a's position 8 needs a third block: b gives its up
  ASSERT_EQ(s.preempted.size(), 1u);
  EXPECT_EQ(s.preempted[0], &b);
  ASSERT_EQ(s.chunks.size(), 1u);
  EXPECT_EQ(s.chunks[0].seq, &a);
  EXPECT_EQ(b.computed, 0);
  EXPECT_EQ(b.cache_seq, -1);
  EXPECT_EQ(b.tokens.size(), 9u);  // prompt and generated tokens, to recompute
  EXPECT_EQ(sched.waiting().front(), &b);
  EXPECT_EQ(sched.preemptions(), 1);
  run(cache, sched, s);
  sched.remove(&a);
  s = sched.schedule();  // b recomputes all it had, then samples
  ASSERT_EQ(s.chunks.size(), 1u);
  EXPECT_EQ(s.chunks[0].count, 9);
  EXPECT_TRUE(s.chunks[0].samples);
  EXPECT_EQ(b.admissions, 2);
}

TEST(BatchScheduler, TheYoungestThatNeedsABlockIsPreemptedItself) {
  KvCache cache = small_cache(3);
  BatchScheduler sched(cache, SchedulerLimits{8, 64, false});
  ScheduledSequence a = sequence(3), b = sequence(8, 40);
  sched.add(&a);
  sched.add(&b);
  run(cache, sched, sched.schedule());  // a: 1 block, b: 2 blocks; the pool is full
  // a's next token fits its block; b's needs a third, and b is the youngest.
  Schedule s = sched.schedule();
  ASSERT_EQ(s.preempted.size(), 1u);
  EXPECT_EQ(s.preempted[0], &b);
  ASSERT_EQ(s.chunks.size(), 1u);
  EXPECT_EQ(s.chunks[0].seq, &a);
  EXPECT_EQ(sched.running().size(), 1u);
  EXPECT_EQ(sched.waiting().size(), 1u);
}

TEST(BatchScheduler, APrefixHitStartsPastTheCachedBlocks) {
  KvCache cache = small_cache(8);
  BatchScheduler sched(cache, SchedulerLimits{8, 64, true});
  ScheduledSequence a = sequence(10);
  sched.add(&a);
  run(cache, sched, sched.schedule());
  EXPECT_EQ(cache.cached_blocks(), 2);
  sched.remove(&a);
  ScheduledSequence b = sequence(11), whole = sequence(8);
  sched.add(&b);
  Schedule s = sched.schedule();
  ASSERT_EQ(s.chunks.size(), 1u);
  EXPECT_EQ(b.computed, 8);
  EXPECT_EQ(s.chunks[0].count, 3);
  EXPECT_EQ(b.first_hit_tokens, 8);
  EXPECT_EQ(cache.block_table(b.cache_seq)[0], cache.cached_prefix(a.tokens, 2)[0]);
  run(cache, sched, s);
  // A prompt made only of cached blocks still computes its last block: its logits are needed.
  sched.add(&whole);
  s = sched.schedule();
  ASSERT_EQ(s.chunks.size(), 2u);
  EXPECT_EQ(whole.computed, 4);
  EXPECT_EQ(s.chunks[1].count, 4);
  EXPECT_EQ(sched.prefix_query_tokens(), 10 + 11 + 8);
  EXPECT_EQ(sched.prefix_hit_tokens(), 8 + 4);
}

TEST(BatchScheduler, ASequenceAdmittedInTheSameStepSharesTheBlocksBeingFilled) {
  KvCache cache = small_cache(8);
  BatchScheduler sched(cache, SchedulerLimits{8, 64, true});
  ScheduledSequence a = sequence(10), b = sequence(11);  // the same first 10 tokens
  sched.add(&a);
  sched.add(&b);
  Schedule s = sched.schedule();
  ASSERT_EQ(s.chunks.size(), 2u);
  EXPECT_EQ(s.cached_blocks.size(), 2u);  // a's two full blocks, cached before the step runs
  EXPECT_EQ(b.computed, 8);
  EXPECT_EQ(s.chunks[1].count, 3);
  EXPECT_EQ(cache.block_table(b.cache_seq)[0], cache.block_table(a.cache_seq)[0]);
  EXPECT_EQ(cache.block_table(b.cache_seq)[1], cache.block_table(a.cache_seq)[1]);
  EXPECT_EQ(cache.free_blocks(), 8 - 3 - 1);  // the step's blocks are taken at scheduling
  EXPECT_EQ(b.first_hit_tokens, 8);
  run(cache, sched, s);
  EXPECT_EQ(cache.free_blocks(), 4);  // the step's reservation found them
  sched.remove(&a);
  sched.remove(&b);
  EXPECT_EQ(cache.free_blocks(), 8);
}

TEST(BatchScheduler, AFailedStepTakesItsBlocksOutOfThePrefixCache) {
  KvCache cache = small_cache(8);
  BatchScheduler sched(cache, SchedulerLimits{8, 64, true});
  ScheduledSequence a = sequence(10);
  sched.add(&a);
  const Schedule s = sched.schedule();
  EXPECT_EQ(cache.cached_blocks(), 2);
  sched.step_failed(s);  // their K/V never came
  EXPECT_EQ(cache.cached_blocks(), 0);
  sched.remove(&a);
  EXPECT_EQ(cache.free_blocks(), 8);
  EXPECT_EQ(cache.evictable_blocks(), 0);
  ScheduledSequence again = sequence(10);
  sched.add(&again);
  sched.schedule();
  EXPECT_EQ(again.computed, 0);  // no hit on what the failed step was to write
}

}  // namespace
}  // namespace ia
