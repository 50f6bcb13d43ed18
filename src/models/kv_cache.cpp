#include "models/kv_cache.h"

#include <algorithm>

#include "backends/backend.h"
#include "core/error.h"
#include "core/kv_quantization.h"

namespace ia {

void require_kv_cache_dtype(Device device, DType dtype) {
  IA_CHECK(is_kv_cache_dtype(dtype), "kv cache: no cache of dtype {}", dtype_name(dtype));
  Backend& be = backend_for(device);
  if (!be.supports(OpKind::PagedAttention, dtype))
    fail(ErrorKind::Unsupported, "the {} backend has no {} KV cache (--kv-cache-dtype {}: use auto, or --device cpu)",
         be.name(), kv_cache_dtype_name(dtype), kv_cache_dtype_name(dtype));
}

KvCache::KvCache(int64_t num_layers, int64_t kv_heads, int64_t head_dim, int64_t block_size, int64_t num_blocks,
                 Device device, DType dtype)
    : block_size_(block_size), num_blocks_(num_blocks), pool_(num_blocks > 0 ? num_blocks : 1) {
  IA_CHECK(num_layers > 0 && kv_heads > 0 && head_dim > 0 && block_size > 0 && num_blocks > 0,
           "kv cache: bad geometry");
  require_kv_cache_dtype(device, dtype);
  Backend& be = backend_for(device);
  const Shape shape = {num_blocks, block_size, kv_heads, kv_cache_row_elems(dtype, head_dim)};
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  for (int64_t l = 0; l < num_layers; ++l) {
    k_.emplace_back(be.allocate(bytes), 0, shape, contiguous_strides(shape), dtype);
    v_.emplace_back(be.allocate(bytes), 0, shape, contiguous_strides(shape), dtype);
  }
}

int64_t KvCache::create_sequence() {
  seqs_[next_id_] = Seq{};
  return next_id_++;
}

int64_t KvCache::create_sequence(std::span<const int32_t> shared_blocks) {
  for (int32_t b : shared_blocks)
    IA_CHECK(b >= 0 && b < num_blocks_ && (pool_.holders(b) > 0 || pool_.is_cached(b)),
             "kv cache: block {} holds nothing to share", b);
  Seq s;
  for (int32_t b : shared_blocks) {
    pool_.hold(b);
    s.blocks.push_back(b);
  }
  s.length = static_cast<int64_t>(shared_blocks.size()) * block_size_;
  seqs_[next_id_] = std::move(s);
  return next_id_++;
}

int64_t KvCache::fork(int64_t id) {
  const Seq& parent = seq(id);
  const int64_t length = parent.length;
  std::vector<int32_t> blocks(parent.blocks.begin(),
                              parent.blocks.begin() + static_cast<std::ptrdiff_t>(blocks_for(length)));
  const int64_t child = create_sequence(blocks);
  try {
    truncate(child, length);  // a partial last block, now shared, is copied into one of the child's own
  } catch (...) {
    release(child);
    throw;
  }
  return child;
}

const KvCache::Seq& KvCache::seq(int64_t id) const {
  auto it = seqs_.find(id);
  IA_CHECK(it != seqs_.end(), "kv cache: no sequence {}", id);
  return it->second;
}

void KvCache::release(int64_t id) {
  const Seq& s = seq(id);
  // Last block first: its first block ends up on top of the free list, and of cached
  // blocks the tail (the least likely to be shared) is evicted first.
  for (auto it = s.blocks.rbegin(); it != s.blocks.rend(); ++it) pool_.release(*it);
  seqs_.erase(id);
}

int64_t KvCache::length(int64_t id) const {
  return seq(id).length;
}
const std::vector<int32_t>& KvCache::block_table(int64_t id) const {
  return seq(id).blocks;
}

std::vector<int64_t> KvCache::append(int64_t id, int64_t n) {
  return reserve({{id, n}}).slots;
}

KvCache::Reservation KvCache::reserve(const std::vector<std::pair<int64_t, int64_t>>& seq_tokens) {
  // Everything is checked before anything changes.
  int64_t need = 0;
  for (size_t i = 0; i < seq_tokens.size(); ++i) {
    const auto [id, n] = seq_tokens[i];
    auto it = seqs_.find(id);
    if (it == seqs_.end()) fail(ErrorKind::InvalidArgument, "kv cache: no sequence {}", id);
    if (n < 0) fail(ErrorKind::InvalidArgument, "kv cache: cannot add {} tokens to sequence {}", n, id);
    for (size_t j = 0; j < i; ++j)
      if (seq_tokens[j].first == id) fail(ErrorKind::InvalidArgument, "kv cache: sequence {} listed twice", id);
    // Blocks given ahead by allocate_blocks count as taken.
    need += std::max<int64_t>(0, blocks_for(it->second.length + n) - static_cast<int64_t>(it->second.blocks.size()));
  }
  if (need > free_blocks())
    fail(ErrorKind::Unavailable, "kv cache is full: {} more blocks of {} tokens needed, {} free", need, block_size_,
         free_blocks());
  Reservation r;
  for (const auto& [id, n] : seq_tokens) {
    Seq& s = seqs_[id];
    r.previous_lengths.emplace_back(id, s.length);
    while (static_cast<int64_t>(s.blocks.size()) < blocks_for(s.length + n)) s.blocks.push_back(pool_.allocate());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t pos = s.length + i;
      r.slots.push_back(static_cast<int64_t>(s.blocks[static_cast<size_t>(pos / block_size_)]) * block_size_ +
                        pos % block_size_);
    }
    s.length += n;
  }
  return r;
}

void KvCache::rollback(const Reservation& r) {
  for (auto it = r.previous_lengths.rbegin(); it != r.previous_lengths.rend(); ++it)
    if (has(it->first)) truncate(it->first, it->second);
}

void KvCache::truncate(int64_t id, int64_t new_length) {
  seq(id);
  Seq& s = seqs_[id];
  if (new_length < 0 || new_length > s.length)
    fail(ErrorKind::InvalidArgument, "kv cache: cannot truncate sequence {} of {} tokens to {}", id, s.length,
         new_length);
  const auto keep = static_cast<size_t>(blocks_for(new_length));
  // The kept partial block's slots past new_length will be written: it must be this
  // sequence's own and out of the prefix cache.
  const bool partial = new_length % block_size_ != 0;
  const bool shared = partial && pool_.holders(s.blocks[keep - 1]) > 1;
  if (shared) {
    int64_t freed = 0;
    for (size_t i = keep; i < s.blocks.size(); ++i) freed += pool_.holders(s.blocks[i]) == 1 ? 1 : 0;
    if (pool_.available() + freed == 0)
      fail(ErrorKind::Unavailable, "kv cache is full: no block to copy a shared block of sequence {} into", id);
  }
  while (s.blocks.size() > keep) {
    pool_.release(s.blocks.back());
    s.blocks.pop_back();
  }
  if (shared) {
    const int32_t own = pool_.allocate();
    copy_block(s.blocks[keep - 1], own);
    pool_.release(s.blocks[keep - 1]);
    s.blocks[keep - 1] = own;
  } else if (partial) {
    pool_.forget(s.blocks[keep - 1]);
  }
  const auto full = static_cast<size_t>(new_length / block_size_);
  if (s.cache_checked > full) {
    s.cache_checked = full;
    s.cache_blocked = false;
  }
  s.length = new_length;
}

void KvCache::copy_block(int32_t from, int32_t to) {
  Backend& be = backend_for(k_[0].device());
  for (auto* pools : {&k_, &v_}) {
    for (Tensor& pool : *pools) {
      Tensor dst = pool.narrow(0, to, 1);
      be.copy(pool.narrow(0, from, 1), dst);
    }
  }
}

std::vector<int32_t> KvCache::cached_prefix(std::span<const int32_t> tokens, int64_t max_blocks) const {
  std::vector<int32_t> blocks;
  const int64_t n = std::min(max_blocks, static_cast<int64_t>(tokens.size()) / block_size_);
  int32_t parent = KvBlockPool::kNoParent;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t b =
        pool_.find(parent, tokens.subspan(static_cast<size_t>(i * block_size_), static_cast<size_t>(block_size_)));
    if (b < 0) break;
    blocks.push_back(b);
    parent = b;
  }
  return blocks;
}

std::vector<int32_t> KvCache::cache_full_blocks(int64_t id, std::span<const int32_t> tokens) {
  seq(id);
  Seq& s = seqs_[id];
  IA_CHECK(static_cast<int64_t>(tokens.size()) <= static_cast<int64_t>(s.blocks.size()) * block_size_,
           "kv cache: {} tokens named for a sequence with room for {}", tokens.size(),
           static_cast<int64_t>(s.blocks.size()) * block_size_);
  std::vector<int32_t> cached;
  const auto full = tokens.size() / static_cast<size_t>(block_size_);
  while (!s.cache_blocked && s.cache_checked < full) {
    const size_t i = s.cache_checked;
    const int32_t b = s.blocks[i];
    const int32_t parent = i == 0 ? KvBlockPool::kNoParent : s.blocks[i - 1];
    if (!pool_.is_cached(b)) {
      if (!pool_.remember(b, parent,
                          tokens.subspan(i * static_cast<size_t>(block_size_), static_cast<size_t>(block_size_)))) {
        s.cache_blocked = true;
        break;
      }
      cached.push_back(b);
    }
    ++s.cache_checked;
  }
  return cached;
}

void KvCache::uncache(std::span<const int32_t> blocks) {
  for (int32_t b : blocks) pool_.forget(b);
}

void KvCache::allocate_blocks(int64_t id, int64_t tokens) {
  seq(id);
  Seq& s = seqs_[id];
  const int64_t need = blocks_for(tokens) - static_cast<int64_t>(s.blocks.size());
  if (need > free_blocks())
    fail(ErrorKind::Unavailable, "kv cache is full: {} more blocks of {} tokens needed, {} free", need, block_size_,
         free_blocks());
  for (int64_t i = 0; i < need; ++i) s.blocks.push_back(pool_.allocate());
}

void KvCache::grow(int64_t num_blocks) {
  if (num_blocks <= num_blocks_) return;
  Backend& be = backend_for(k_[0].device());
  const Shape& old = k_[0].shape();
  const Shape shape = {num_blocks, old[1], old[2], old[3]};
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype());
  for (auto* pools : {&k_, &v_}) {
    for (Tensor& pool : *pools) {
      Tensor bigger(be.allocate(bytes), 0, shape, contiguous_strides(shape), pool.dtype());
      Tensor head = bigger.narrow(0, 0, num_blocks_);
      be.copy(pool, head);
      pool = bigger;
    }
  }
  pool_.grow(num_blocks);
  num_blocks_ = num_blocks;
}

}  // namespace ia
