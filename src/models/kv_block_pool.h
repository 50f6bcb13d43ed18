#pragma once
// Who owns each block of a paged KV cache: free, held by one or more sequences
// (reference-counted, so sequences with the same prefix share its blocks without
// copying), or cached. A cached block is a full block whose content is known by
// its parent block and its tokens (vLLM's block hash); when its last holder lets
// go it stays, evictable, so a later prompt with the same prefix reuses it, until
// an allocation needs the room (least recently released first).
//
// A block is found by hashing (parent block, parent's life, tokens), and a hit is
// checked against what was stored (the same parent in the same cached life, the
// same tokens), so a hash collision is a miss, never another prompt's K/V. A
// block's "life" (epoch) ends whenever its cache entry is dropped; children
// recorded under the old content then no longer match and age out of the LRU.
#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

namespace ia {

class KvBlockPool {
 public:
  static constexpr int32_t kNoParent = -1;

  explicit KvBlockPool(int64_t num_blocks);

  int64_t num_blocks() const { return static_cast<int64_t>(holders_.size()); }
  // Blocks allocate() can hand out: free ones and cached ones no sequence holds.
  int64_t available() const { return static_cast<int64_t>(free_.size() + evictable_.size()); }
  // Cached blocks no sequence holds (part of available()).
  int64_t evictable() const { return static_cast<int64_t>(evictable_.size()); }
  // Blocks with a cache entry, held or not.
  int64_t cached() const { return static_cast<int64_t>(index_.size()); }

  // A block for a new holder: a free one (the most recently freed first, warm in the
  // CPU's caches), else the least recently released cached one, whose entry is dropped.
  // Internal error when none is available (callers check available()).
  int32_t allocate();
  // One more holder of a held or cached block (a cached unheld block leaves the evictable set).
  void hold(int32_t block);
  // One holder fewer; with none left a cached block becomes evictable, any other free.
  void release(int32_t block);
  int32_t holders(int32_t block) const { return holders_[index(block)]; }
  bool is_cached(int32_t block) const { return entries_[index(block)].cached; }

  // Records a held, full block: its parent (the cached block before it in its sequence,
  // or kNoParent for a sequence's first block) and its tokens. False, and nothing
  // recorded, when the parent is not cached or an equal block is already cached (two
  // sequences computed the same prefix at once: the first one recorded stays).
  bool remember(int32_t block, int32_t parent, std::span<const int32_t> tokens);
  // The cached block holding `tokens` after `parent`, or -1.
  int32_t find(int32_t parent, std::span<const int32_t> tokens) const;
  // Drops a block's cache entry (its content is about to change); an unheld one becomes free.
  void forget(int32_t block);

  // Adds blocks up to num_blocks (never shrinks); they are free, below those already free.
  void grow(int64_t num_blocks);

 private:
  struct Entry {
    bool cached = false;
    uint64_t key = 0;
    int32_t parent = kNoParent;
    uint64_t parent_epoch = 0;
    std::vector<int32_t> tokens;
  };
  size_t index(int32_t block) const;
  uint64_t epoch_of(int32_t parent) const { return parent == kNoParent ? 0 : epochs_[index(parent)]; }
  uint64_t key_of(int32_t parent, std::span<const int32_t> tokens) const;
  // Removes the cache entry of `block` (held or not) and ends its life.
  void drop_entry(int32_t block);

  std::vector<int32_t> holders_;
  std::vector<uint64_t> epochs_;
  std::vector<Entry> entries_;
  std::vector<int32_t> free_;     // a stack: recently freed blocks are reused first
  std::list<int32_t> evictable_;  // cached, unheld; least recently released first
  std::vector<std::list<int32_t>::iterator> evictable_at_;
  std::unordered_map<uint64_t, int32_t> index_;  // key -> cached block
};

}  // namespace ia
