#pragma once
// The paged KV cache (vLLM-style): per layer one K and one V pool of
// fixed-size blocks [num_blocks, block_size, kv_heads, head_dim] (f32; an int8 cache's rows are
// head_dim + 4 bytes, core/kv_quantization.h), and per
// sequence a block table mapping its positions to blocks. Sequences grow a
// block at a time from a shared free list, so a batch of prompts of different
// lengths wastes at most one partial block each. Blocks are reference-counted
// (KvBlockPool): sequences with the same prefix hold the same full blocks without
// copying, and full blocks can be kept in a prefix cache after their sequence is
// released (cache_full_blocks, cached_prefix) for a later prompt to reuse.
#include <cstdint>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"
#include "models/kv_block_pool.h"

namespace ia {

// Unsupported, in one line naming the backend and the dtype, when the backend of `device` cannot
// keep a KV cache of `dtype` (an int8 cache on a backend without it).
void require_kv_cache_dtype(Device device, DType dtype);

class KvCache {
 public:
  // `dtype` is the pools' element format (core/kv_quantization.h): F32, or Q8Kv (int8 rows with a
  // scale per token and head, where the device's backend supports it).
  KvCache(int64_t num_layers, int64_t kv_heads, int64_t head_dim, int64_t block_size, int64_t num_blocks, Device device,
          DType dtype = DType::F32);

  DType dtype() const { return k_[0].dtype(); }
  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  // Blocks a sequence can still take: free ones and cached ones no sequence holds.
  int64_t free_blocks() const { return pool_.available(); }
  // Blocks needed to hold `tokens` tokens of one sequence.
  int64_t blocks_for(int64_t tokens) const { return (tokens + block_size_ - 1) / block_size_; }

  // A new, empty sequence; returns its id.
  int64_t create_sequence();
  // A new sequence that starts with `shared_blocks`, full blocks other sequences hold or
  // the prefix cache keeps (from cached_prefix): it holds them too, copy-free, and its
  // length is their tokens. Its next tokens go into blocks of its own.
  int64_t create_sequence(std::span<const int32_t> shared_blocks);
  // A new sequence with the K/V of `seq` (a beam continuing another): it holds the same full
  // blocks, copy-free, and a copy of a partial last block, which its next tokens would write.
  // Unavailable when that copy finds no free block.
  int64_t fork(int64_t seq);
  // Lets go of the sequence's blocks: those no other sequence holds go back to the free
  // list, or, when cached, stay in the prefix cache until the room is needed.
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
  // its slots past new_length are overwritten by the next append (a shared one is
  // first copied into a block of its own, a cached one leaves the prefix cache).
  // InvalidArgument when new_length is negative or past the sequence's length,
  // Unavailable when a shared block needs a copy and no block is free.
  void truncate(int64_t seq, int64_t new_length);
  // Enlarges the pools to num_blocks blocks (never shrinks), keeping every
  // sequence's K/V where it is; the new blocks join the free list.
  void grow(int64_t num_blocks);

  // --- Prefix cache (vLLM's automatic prefix caching) ---
  // The cached blocks holding the leading whole blocks of `tokens` (a prompt), as far
  // as they match, at most max_blocks of them; for create_sequence(shared_blocks).
  std::vector<int32_t> cached_prefix(std::span<const int32_t> tokens, int64_t max_blocks) const;
  // Puts the sequence's full blocks in the prefix cache: `tokens` are the ids whose K/V
  // it holds from position 0, or will hold once the step about to run has written them
  // (at most its blocks' room). Blocks already cached, or past a block an equal cached
  // block made redundant, are skipped. Returns the blocks it cached.
  std::vector<int32_t> cache_full_blocks(int64_t seq, std::span<const int32_t> tokens);
  // Takes blocks out of the prefix cache: their K/V never came (the step that was to
  // write them failed). Blocks no sequence holds become free.
  void uncache(std::span<const int32_t> blocks);
  // Gives the sequence the blocks `tokens` tokens need ahead of the step that writes
  // them, so that they can be cached (and shared) before it runs: its length does not
  // change; that step's reserve uses them, and its rollback, truncate or release returns
  // them. `tokens` is the sequence's length after that step (a step's block table holds
  // exactly the blocks of its length). Unavailable, with nothing changed, when the pool
  // runs out.
  void allocate_blocks(int64_t seq, int64_t tokens);
  // How many sequences hold a block (0: free or only cached).
  int32_t holders(int32_t block) const { return pool_.holders(block); }
  // Blocks in the prefix cache, held or not, and those of them no sequence holds.
  int64_t cached_blocks() const { return pool_.cached(); }
  int64_t evictable_blocks() const { return pool_.evictable(); }

  Tensor& k(int64_t layer) { return k_[static_cast<size_t>(layer)]; }
  Tensor& v(int64_t layer) { return v_[static_cast<size_t>(layer)]; }

 private:
  struct Seq {
    int64_t length = 0;
    std::vector<int32_t> blocks;
    size_t cache_checked = 0;    // leading blocks cache_full_blocks has cached or found cached
    bool cache_blocked = false;  // an equal block was cached first: the chain cannot go on from here
  };
  const Seq& seq(int64_t id) const;
  // Copies every layer's K/V of block `from` into block `to`.
  void copy_block(int32_t from, int32_t to);

  int64_t block_size_, num_blocks_;
  std::vector<Tensor> k_, v_;
  KvBlockPool pool_;
  std::map<int64_t, Seq> seqs_;
  int64_t next_id_ = 0;
};

}  // namespace ia
