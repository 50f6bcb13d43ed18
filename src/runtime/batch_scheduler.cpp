#include "runtime/batch_scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace ia {

BatchScheduler::BatchScheduler(KvCache& cache, SchedulerLimits limits) : cache_(cache), limits_(limits) {
  IA_CHECK(limits_.max_num_seqs > 0 && limits_.max_batch_tokens > 0, "scheduler: limits {} sequences, {} tokens",
           limits_.max_num_seqs, limits_.max_batch_tokens);
}

void BatchScheduler::add(ScheduledSequence* seq, bool front) {
  IA_CHECK(seq && !seq->tokens.empty() && seq->cache_seq < 0, "scheduler: a sequence to add needs tokens");
  if (front) {
    waiting_.push_front(seq);
  } else {
    waiting_.push_back(seq);
  }
}

void BatchScheduler::remove(ScheduledSequence* seq) {
  if (seq->cache_seq >= 0) {
    cache_.release(seq->cache_seq);
    seq->cache_seq = -1;
  }
  seq->computed = 0;
  std::erase(running_, seq);
  std::erase(waiting_, seq);
}

int64_t BatchScheduler::blocks_needed(const ScheduledSequence& seq, int64_t count) const {
  return cache_.blocks_for(seq.computed + count) - static_cast<int64_t>(cache_.block_table(seq.cache_seq).size());
}

std::span<const int32_t> BatchScheduler::keys(const ScheduledSequence& seq, int64_t n, std::vector<int32_t>& scratch) {
  const std::span<const int32_t> tokens = std::span<const int32_t>(seq.tokens).first(static_cast<size_t>(n));
  if (seq.prompt_keys.empty()) return tokens;
  const size_t k = std::min(seq.prompt_keys.size(), tokens.size());
  scratch.assign(seq.prompt_keys.begin(), seq.prompt_keys.begin() + static_cast<std::ptrdiff_t>(k));
  scratch.insert(scratch.end(), tokens.begin() + static_cast<std::ptrdiff_t>(k), tokens.end());
  return scratch;
}

void BatchScheduler::preempt(ScheduledSequence* seq) {
  cache_.release(seq->cache_seq);
  seq->cache_seq = -1;
  seq->computed = 0;
  waiting_.push_front(seq);
  ++preemptions_;
}

Schedule BatchScheduler::schedule() {
  Schedule out;
  int64_t budget = limits_.max_batch_tokens;
  auto take = [&](ScheduledSequence* seq, int64_t count) {
    const int64_t after = seq->computed + count;
    cache_.allocate_blocks(seq->cache_seq, after);
    if (limits_.prefix_caching) {
      std::vector<int32_t> scratch;
      const std::vector<int32_t> cached = cache_.cache_full_blocks(seq->cache_seq, keys(*seq, after, scratch));
      out.cached_blocks.insert(out.cached_blocks.end(), cached.begin(), cached.end());
    }
    out.chunks.push_back(ScheduledChunk{seq, count, after == static_cast<int64_t>(seq->tokens.size())});
    out.tokens += count;
    budget -= count;
  };

  // Running sequences first, oldest first; a sequence that finds no free block
  // evicts the youngest (possibly itself, which ends the pass).
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    ScheduledSequence* seq = running_[i];
    const int64_t count = std::min(static_cast<int64_t>(seq->tokens.size()) - seq->computed, budget);
    IA_CHECK(count > 0, "scheduler: a running sequence with nothing to compute");
    const int64_t need = blocks_needed(*seq, count);
    bool evicted_self = false;
    while (need > cache_.free_blocks()) {
      ScheduledSequence* victim = running_.back();
      running_.pop_back();
      preempt(victim);
      out.preempted.push_back(victim);
      if (victim == seq) {
        evicted_self = true;
        break;
      }
    }
    if (evicted_self) break;
    take(seq, count);
  }

  // Then waiting sequences, first come first served (one that does not fit stops
  // the others behind it). Not in a step that had to preempt: blocks are short.
  while (out.preempted.empty() && !waiting_.empty() && budget > 0 &&
         static_cast<int64_t>(running_.size()) < limits_.max_num_seqs) {
    ScheduledSequence* seq = waiting_.front();
    const int64_t count = admit(seq, budget);
    if (count == 0) break;
    waiting_.pop_front();
    running_.push_back(seq);
    take(seq, count);
  }
  return out;
}

int64_t BatchScheduler::admit(ScheduledSequence* seq, int64_t budget) {
  const auto total = static_cast<int64_t>(seq->tokens.size());
  // Whole cached blocks only, and never the last token: its logits are needed.
  std::vector<int32_t> hits;
  std::vector<int32_t> scratch;
  if (limits_.prefix_caching)
    hits = cache_.cached_prefix(keys(*seq, total, scratch), (total - 1) / cache_.block_size());
  const auto hit_tokens = static_cast<int64_t>(hits.size()) * cache_.block_size();
  const int64_t count = std::min(total - hit_tokens, budget);
  // Cached blocks no one holds stop being free once this sequence holds them.
  int64_t unheld_hits = 0;
  for (int32_t b : hits) unheld_hits += cache_.holders(b) == 0 ? 1 : 0;
  const int64_t need = cache_.blocks_for(hit_tokens + count) - static_cast<int64_t>(hits.size()) + unheld_hits;
  if (need > cache_.free_blocks()) return 0;
  seq->cache_seq = cache_.create_sequence(hits);
  seq->computed = hit_tokens;
  if (seq->admissions++ == 0) seq->first_hit_tokens = hit_tokens;
  if (limits_.prefix_caching) {
    prefix_queries_ += total;
    prefix_hits_ += hit_tokens;
  }
  return count;
}

void BatchScheduler::step_done(const Schedule& schedule) {
  for (const ScheduledChunk& c : schedule.chunks) {
    ScheduledSequence& seq = *c.seq;
    seq.computed += c.count;
    IA_CHECK(seq.computed == cache_.length(seq.cache_seq), "scheduler: sequence computed {} of {} cached tokens",
             seq.computed, cache_.length(seq.cache_seq));
  }
}

void BatchScheduler::step_failed(const Schedule& schedule) {
  cache_.uncache(schedule.cached_blocks);
}

}  // namespace ia
