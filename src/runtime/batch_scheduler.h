#pragma once
// Who runs in the next step of continuous batching, and with how many tokens
// (vLLM's scheduler). Sequences share one paged KV cache. Each step first gives
// every running sequence its next tokens in admission order (one for decode, the
// next chunk of a prompt still being prefilled), then admits waiting sequences
// first come first served while the token budget, the sequence limit and the free
// blocks allow: a long prompt is split into chunks so running sequences keep
// stepping (chunked prefill). A new sequence starts with the cached blocks of its
// prompt's leading full blocks (prefix caching) and computes only the rest. When a
// running sequence needs a block and none is free, the youngest running sequence
// is preempted: its blocks are released and it waits, at the front, to recompute
// its prompt and generated tokens (with prefix caching, mostly cache hits).
//
// The scheduler only does bookkeeping, but it gives each scheduled chunk its blocks
// and caches the blocks the step will fill right away, so a sequence admitted later
// in the same step already shares them (a model step writes every sequence's K/V of
// a layer before any attends). The engine runs the step, then reports it done
// (step_done advances the sequences) or failed (step_failed uncaches those blocks).
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "models/kv_cache.h"

namespace ia {

// What the scheduler knows of a sequence; the engine's request state extends it.
struct ScheduledSequence {
  std::vector<int32_t> tokens;   // the prompt, then the generated tokens
  int64_t computed = 0;          // leading tokens whose K/V the cache holds
  int64_t cache_seq = -1;        // the cache's sequence while running, else -1
  int64_t admissions = 0;        // 1 + times it was preempted and admitted again
  int64_t first_hit_tokens = 0;  // prompt tokens found in the prefix cache at the first admission
  // What the prefix cache keys its prompt by when that is not its tokens (a prompt with images:
  // PromptImages::cache_keys); empty: the tokens. Tokens past it are keyed by themselves.
  std::vector<int32_t> prompt_keys;
  virtual ~ScheduledSequence() = default;
};

struct SchedulerLimits {
  int64_t max_num_seqs = 64;        // sequences in one step
  int64_t max_batch_tokens = 2048;  // new tokens in one step
  bool prefix_caching = true;
};

// One sequence's part of a step: its tokens [computed, computed + count).
struct ScheduledChunk {
  ScheduledSequence* seq = nullptr;
  int64_t count = 0;
  // Whether the chunk ends at the sequence's last token, so its logits give the next token.
  bool samples = false;
};

struct Schedule {
  std::vector<ScheduledChunk> chunks;
  std::vector<ScheduledSequence*> preempted;  // released this step, waiting again
  std::vector<int32_t> cached_blocks;         // blocks the step fills, already in the prefix cache
  int64_t tokens = 0;                         // new tokens in the step
};

class BatchScheduler {
 public:
  BatchScheduler(KvCache& cache, SchedulerLimits limits);

  // Queues a sequence (tokens set, computed 0); `front`: ahead of the others.
  void add(ScheduledSequence* seq, bool front = false);
  // Takes a sequence out, running or waiting, releasing its blocks at once.
  void remove(ScheduledSequence* seq);

  // Decides the next step and gives its chunks their blocks (KvCache::allocate_blocks;
  // the step's reserve finds them there).
  Schedule schedule();
  // After the step ran: advances each chunk's sequence.
  void step_done(const Schedule& schedule);
  // After the step failed (the runner rolled the cache back): the blocks it was to fill
  // leave the prefix cache. The engine then ends the step's sequences.
  void step_failed(const Schedule& schedule);

  const std::vector<ScheduledSequence*>& running() const { return running_; }
  const std::deque<ScheduledSequence*>& waiting() const { return waiting_; }
  // Prefix-cache lookups at admission, in prompt tokens: asked and found.
  int64_t prefix_query_tokens() const { return prefix_queries_; }
  int64_t prefix_hit_tokens() const { return prefix_hits_; }
  int64_t preemptions() const { return preemptions_; }
  const SchedulerLimits& limits() const { return limits_; }

 private:
  // Blocks a running sequence takes to hold `count` more tokens.
  int64_t blocks_needed(const ScheduledSequence& seq, int64_t count) const;
  // The prefix-cache keys of a sequence's first n tokens (a view of its tokens, or `scratch`).
  static std::span<const int32_t> keys(const ScheduledSequence& seq, int64_t n, std::vector<int32_t>& scratch);
  // Releases a running sequence's blocks; it waits again at the front, to recompute.
  void preempt(ScheduledSequence* seq);
  // Admits the first waiting sequence if it fits; returns its chunk's size (0: it did not).
  int64_t admit(ScheduledSequence* seq, int64_t budget);

  KvCache& cache_;
  SchedulerLimits limits_;
  std::vector<ScheduledSequence*> running_;  // in admission order: the last is the youngest
  std::deque<ScheduledSequence*> waiting_;
  int64_t prefix_queries_ = 0, prefix_hits_ = 0, preemptions_ = 0;
};

}  // namespace ia
