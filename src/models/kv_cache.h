#pragma once
// The paged KV cache (vLLM-style): per layer one K and one V pool of
// fixed-size blocks [num_blocks, block_size, kv_heads, head_dim], and per
// sequence a block table mapping its positions to blocks. Sequences grow a
// block at a time from a shared free list, so a batch of prompts of different
// lengths wastes at most one partial block each, and continuous batching or
// prefix sharing can later hand blocks around without copying.
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"

namespace ia {

class KvCache {
 public:
  KvCache(int64_t num_layers, int64_t kv_heads, int64_t head_dim, int64_t block_size, int64_t num_blocks,
          Device device);

  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  // Blocks needed to hold `tokens` tokens of one sequence.
  int64_t blocks_for(int64_t tokens) const { return (tokens + block_size_ - 1) / block_size_; }

  // A new, empty sequence; returns its id.
  int64_t create_sequence();
  // Returns the sequence's blocks to the free list.
  void release(int64_t seq);
  bool has(int64_t seq) const { return seqs_.count(seq) != 0; }
  int64_t length(int64_t seq) const;
  const std::vector<int32_t>& block_table(int64_t seq) const;

  // Makes room for n more tokens (Unavailable when the pool runs out), advances
  // the length and returns each new token's slot (block * block_size + offset).
  std::vector<int64_t> append(int64_t seq, int64_t n);

  // Room for the new tokens of a whole step, all or nothing (vLLM's allocate_slots):
  // either every listed sequence grows by its count, or (Unavailable, InvalidArgument
  // for an unknown or repeated sequence or a negative count) none changes.
  struct Reservation {
    std::vector<std::pair<int64_t, int64_t>> previous_lengths;  // (sequence, length before)
    std::vector<int64_t> slots;                                 // each new token's slot, sequence after sequence
  };
  Reservation reserve(const std::vector<std::pair<int64_t, int64_t>>& seq_tokens);
  // Undoes a reservation whose step did not run: each sequence returns to its
  // previous length and the blocks it took go back to the free list.
  void rollback(const Reservation& r);
  // Drops the sequence's tokens from position new_length on and returns the
  // blocks it no longer needs to the free list; a partial last block is kept and
  // its slots past new_length are overwritten by the next append. InvalidArgument
  // when new_length is negative or past the sequence's length.
  void truncate(int64_t seq, int64_t new_length);
  // Enlarges the pools to num_blocks blocks (never shrinks), keeping every
  // sequence's K/V where it is; the new blocks join the free list.
  void grow(int64_t num_blocks);

  Tensor& k(int64_t layer) { return k_[static_cast<size_t>(layer)]; }
  Tensor& v(int64_t layer) { return v_[static_cast<size_t>(layer)]; }

 private:
  struct Seq {
    int64_t length = 0;
    std::vector<int32_t> blocks;
  };
  const Seq& seq(int64_t id) const;

  int64_t block_size_, num_blocks_;
  std::vector<Tensor> k_, v_;
  std::vector<int32_t> free_;  // a stack: recently freed blocks are reused first (warm in cache)
  std::map<int64_t, Seq> seqs_;
  int64_t next_id_ = 0;
};

}  // namespace ia
