#include "models/kv_block_pool.h"

#include <algorithm>

#include "core/error.h"

namespace ia {

namespace {

// splitmix64's finalizer: every input bit reaches every output bit.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

KvBlockPool::KvBlockPool(int64_t num_blocks) {
  IA_CHECK(num_blocks > 0, "kv block pool: {} blocks", num_blocks);
  grow(num_blocks);
}

size_t KvBlockPool::index(int32_t block) const {
  IA_CHECK(block >= 0 && static_cast<size_t>(block) < holders_.size(), "kv block pool: no block {}", block);
  return static_cast<size_t>(block);
}

uint64_t KvBlockPool::key_of(int32_t parent, std::span<const int32_t> tokens) const {
  uint64_t h = mix(static_cast<uint64_t>(static_cast<int64_t>(parent)) ^ mix(epoch_of(parent)));
  for (int32_t t : tokens) h = mix(h ^ static_cast<uint32_t>(t));
  return h;
}

int32_t KvBlockPool::allocate() {
  int32_t block = -1;
  if (!free_.empty()) {
    block = free_.back();
    free_.pop_back();
  } else {
    IA_CHECK(!evictable_.empty(), "kv block pool: no block available");
    block = evictable_.front();
    evictable_.pop_front();
    drop_entry(block);
  }
  holders_[index(block)] = 1;
  return block;
}

void KvBlockPool::hold(int32_t block) {
  const size_t b = index(block);
  if (holders_[b] == 0) {
    IA_CHECK(entries_[b].cached, "kv block pool: block {} is free", block);
    evictable_.erase(evictable_at_[b]);
  }
  ++holders_[b];
}

void KvBlockPool::release(int32_t block) {
  const size_t b = index(block);
  IA_CHECK(holders_[b] > 0, "kv block pool: block {} released more often than held", block);
  if (--holders_[b] > 0) return;
  if (entries_[b].cached) {
    evictable_at_[b] = evictable_.insert(evictable_.end(), block);
  } else {
    free_.push_back(block);
  }
}

bool KvBlockPool::remember(int32_t block, int32_t parent, std::span<const int32_t> tokens) {
  const size_t b = index(block);
  IA_CHECK(holders_[b] > 0 && !entries_[b].cached, "kv block pool: block {} cannot be cached", block);
  if (parent != kNoParent && !entries_[index(parent)].cached) return false;
  const uint64_t key = key_of(parent, tokens);
  if (!index_.emplace(key, block).second) return false;
  Entry& e = entries_[b];
  e.cached = true;
  e.key = key;
  e.parent = parent;
  e.parent_epoch = epoch_of(parent);
  e.tokens.assign(tokens.begin(), tokens.end());
  return true;
}

int32_t KvBlockPool::find(int32_t parent, std::span<const int32_t> tokens) const {
  if (parent != kNoParent && !entries_[index(parent)].cached) return -1;
  auto it = index_.find(key_of(parent, tokens));
  if (it == index_.end()) return -1;
  const Entry& e = entries_[index(it->second)];
  const bool same = e.parent == parent && e.parent_epoch == epoch_of(parent) &&
                    std::equal(e.tokens.begin(), e.tokens.end(), tokens.begin(), tokens.end());
  return same ? it->second : -1;
}

void KvBlockPool::forget(int32_t block) {
  const size_t b = index(block);
  if (!entries_[b].cached) return;
  drop_entry(block);
  if (holders_[b] == 0) {
    evictable_.erase(evictable_at_[b]);
    free_.push_back(block);
  }
}

void KvBlockPool::drop_entry(int32_t block) {
  Entry& e = entries_[index(block)];
  auto it = index_.find(e.key);
  if (it != index_.end() && it->second == block) index_.erase(it);
  e = Entry{};
  ++epochs_[index(block)];
}

void KvBlockPool::grow(int64_t num_blocks) {
  const int64_t old = this->num_blocks();
  if (num_blocks <= old) return;
  const auto n = static_cast<size_t>(num_blocks);
  holders_.resize(n, 0);
  epochs_.resize(n, 0);
  entries_.resize(n);
  evictable_at_.resize(n);
  // Below the existing free blocks, lowest id on top: recently freed (warm) blocks still go first.
  std::vector<int32_t> added;
  for (int64_t b = num_blocks - 1; b >= old; --b) added.push_back(static_cast<int32_t>(b));
  free_.insert(free_.begin(), added.begin(), added.end());
}

}  // namespace ia
