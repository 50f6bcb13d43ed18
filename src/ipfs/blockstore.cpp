#include "ipfs/blockstore.h"

#include "core/error.h"

namespace ia::ipfs {

bool Blockstore::get_into(const Multihash& mh, Bytes& out) {
  auto block = get(mh);
  if (!block) return false;
  out.assign(*block);  // assign, not move: `out` keeps its own (reused) capacity
  return true;
}

void MemoryBlockstore::put(const Cid& cid, BytesView block) {
  std::lock_guard lock(mu_);
  blocks_.try_emplace(cid.hash, Bytes(block));
}

bool MemoryBlockstore::has(const Multihash& mh) {
  std::lock_guard lock(mu_);
  return blocks_.count(mh) > 0;
}

void check_block_hash(const Multihash& mh, BytesView block) {
  if (multihash_matches(mh, block)) return;
  Cid key;  // named as kubo names blockstore keys: the raw CIDv1 of the multihash
  key.codec = kCodecRaw;
  key.hash = mh;
  fail(ErrorKind::Corrupt, "stored block {} does not match its hash", key.to_string());
}

std::optional<Bytes> MemoryBlockstore::get(const Multihash& mh) {
  std::optional<Bytes> block;
  {
    std::lock_guard lock(mu_);
    auto it = blocks_.find(mh);
    if (it == blocks_.end()) return std::nullopt;
    block = it->second;
  }
  check_block_hash(mh, *block);  // hashed outside the lock: readers of other blocks need not wait
  return block;
}

bool MemoryBlockstore::get_into(const Multihash& mh, Bytes& out) {
  {
    std::lock_guard lock(mu_);
    auto it = blocks_.find(mh);
    if (it == blocks_.end()) return false;
    out.assign(it->second);
  }
  check_block_hash(mh, out);
  return true;
}

bool MemoryBlockstore::remove(const Multihash& mh) {
  std::lock_guard lock(mu_);
  return blocks_.erase(mh) > 0;
}

void MemoryBlockstore::for_each(const std::function<void(const Multihash&)>& fn) {
  std::vector<Multihash> keys;
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, v] : blocks_) keys.push_back(k);
  }
  for (const auto& k : keys) fn(k);
}

size_t MemoryBlockstore::size() {
  std::lock_guard lock(mu_);
  return blocks_.size();
}

Bytes load_block(Blockstore& store, const Cid& cid) {
  if (cid.hash.code == kHashIdentity) return cid.hash.digest;
  auto block = store.get(cid.hash);
  if (!block) fail(ErrorKind::NotFound, "block {} not found in the blockstore", cid.to_string());
  return std::move(*block);
}

void load_block_into(Blockstore& store, const Cid& cid, Bytes& out) {
  if (cid.hash.code == kHashIdentity) {
    out.assign(cid.hash.digest);
    return;
  }
  if (!store.get_into(cid.hash, out))
    fail(ErrorKind::NotFound, "block {} not found in the blockstore", cid.to_string());
}

}  // namespace ia::ipfs
