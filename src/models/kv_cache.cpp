#include "models/kv_cache.h"

#include "backends/backend.h"
#include "core/error.h"

namespace ia {

KvCache::KvCache(int64_t num_layers, int64_t kv_heads, int64_t head_dim, int64_t block_size, int64_t num_blocks,
                 Device device)
    : block_size_(block_size), num_blocks_(num_blocks) {
  IA_CHECK(num_layers > 0 && kv_heads > 0 && head_dim > 0 && block_size > 0 && num_blocks > 0,
           "kv cache: bad geometry");
  Backend& be = backend_for(device);
  const Shape shape = {num_blocks, block_size, kv_heads, head_dim};
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * sizeof(float);
  for (int64_t l = 0; l < num_layers; ++l) {
    k_.emplace_back(be.allocate(bytes), 0, shape, contiguous_strides(shape), DType::F32);
    v_.emplace_back(be.allocate(bytes), 0, shape, contiguous_strides(shape), DType::F32);
  }
  for (int64_t b = num_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

int64_t KvCache::create_sequence() {
  seqs_[next_id_] = Seq{};
  return next_id_++;
}

const KvCache::Seq& KvCache::seq(int64_t id) const {
  auto it = seqs_.find(id);
  IA_CHECK(it != seqs_.end(), "kv cache: no sequence {}", id);
  return it->second;
}

void KvCache::release(int64_t id) {
  const Seq& s = seq(id);
  for (auto it = s.blocks.rbegin(); it != s.blocks.rend(); ++it) free_.push_back(*it);
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
    need += blocks_for(it->second.length + n) - static_cast<int64_t>(it->second.blocks.size());
  }
  if (need > free_blocks())
    fail(ErrorKind::Unavailable, "kv cache is full: {} more blocks of {} tokens needed, {} free", need, block_size_,
         free_blocks());
  Reservation r;
  for (const auto& [id, n] : seq_tokens) {
    Seq& s = seqs_[id];
    r.previous_lengths.emplace_back(id, s.length);
    while (static_cast<int64_t>(s.blocks.size()) < blocks_for(s.length + n)) {
      s.blocks.push_back(free_.back());
      free_.pop_back();
    }
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
  while (s.blocks.size() > keep) {
    free_.push_back(s.blocks.back());
    s.blocks.pop_back();
  }
  s.length = new_length;
}

void KvCache::grow(int64_t num_blocks) {
  if (num_blocks <= num_blocks_) return;
  Backend& be = backend_for(k_[0].device());
  const Shape& old = k_[0].shape();
  const Shape shape = {num_blocks, old[1], old[2], old[3]};
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * sizeof(float);
  for (auto* pools : {&k_, &v_}) {
    for (Tensor& pool : *pools) {
      Tensor bigger(be.allocate(bytes), 0, shape, contiguous_strides(shape), DType::F32);
      Tensor head = bigger.narrow(0, 0, num_blocks_);
      be.copy(pool, head);
      pool = bigger;
    }
  }
  // Below the existing free blocks, lowest id on top: recently freed (warm) blocks still go first.
  std::vector<int32_t> added;
  for (int64_t b = num_blocks - 1; b >= num_blocks_; --b) added.push_back(static_cast<int32_t>(b));
  free_.insert(free_.begin(), added.begin(), added.end());
  num_blocks_ = num_blocks;
}

}  // namespace ia
