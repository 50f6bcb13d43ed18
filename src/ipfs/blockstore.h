#pragma once
// Where blocks live. The importer only writes (BlockSink) so `--only-hash`
// can pass a sink that stores nothing; readers use Blockstore, whose get()
// returns only bytes that hash to the CID asked for.
#include <functional>
#include <map>
#include <mutex>
#include <optional>

#include "ipfs/cid.h"

namespace ia::ipfs {

// The largest block accepted from a user (`block put`): the bitswap limit
// kubo keeps to (2 MiB), above the importer's largest chunk (1 MiB) plus its node.
inline constexpr size_t kMaxBlockSize = 2u << 20;

class BlockSink {
 public:
  virtual ~BlockSink() = default;
  // `block` must hash to `cid` (callers computed the CID from it).
  virtual void put(const Cid& cid, BytesView block) = 0;
};

// Discards blocks: `ipfs add --only-hash`.
class NullSink : public BlockSink {
 public:
  void put(const Cid&, BytesView) override {}
};

class Blockstore : public BlockSink {
 public:
  // Blocks are keyed by multihash, so a v0 and a v1 CID of the same bytes share one entry.
  virtual bool has(const Multihash& mh) = 0;
  // The verified block, or nullopt when absent. Throws ia::Error(Corrupt)
  // when the stored bytes do not hash to `mh`.
  virtual std::optional<Bytes> get(const Multihash& mh) = 0;
  // get() into the caller's buffer: `out` is overwritten with the verified
  // block and keeps its capacity, so a caller that reuses its buffer (the
  // gateway's CAR and raw answers) allocates nothing per block; a fresh
  // 256 KiB buffer per block is above glibc's mmap threshold, i.e. an mmap,
  // ~64 page faults and an munmap each time. False when absent (`out` is then
  // unspecified); throws as get() does. The default copies get()'s answer;
  // stores override it to read straight into `out`.
  virtual bool get_into(const Multihash& mh, Bytes& out);
  // Removes the block; returns false if it was not there.
  virtual bool remove(const Multihash& mh) = 0;
  // Every stored multihash (order unspecified).
  virtual void for_each(const std::function<void(const Multihash&)>& fn) = 0;
  // A commit point: every block put so far is durable when this returns
  // (stores that batch durability do the work here; see FsBlockstore).
  virtual void sync() {}
};

// What every Blockstore::get does before it returns a block: throws
// ia::Error(Corrupt) when `block` does not hash to `mh` (boxo does this in a
// wrapper, ValidatingBlockstore; here each store calls it on its read path, so
// a store cannot be used without it).
void check_block_hash(const Multihash& mh, BytesView block);

// In memory, thread-safe: tests, CAR round trips, staging. get() verifies
// like any Blockstore: a block put under the wrong hash is refused there.
class MemoryBlockstore : public Blockstore {
 public:
  void put(const Cid& cid, BytesView block) override;
  bool has(const Multihash& mh) override;
  std::optional<Bytes> get(const Multihash& mh) override;
  bool get_into(const Multihash& mh, Bytes& out) override;
  bool remove(const Multihash& mh) override;
  void for_each(const std::function<void(const Multihash&)>& fn) override;
  size_t size();

 private:
  std::mutex mu_;
  std::map<Multihash, Bytes> blocks_;
};

// The block for `cid`: identity CIDs are answered from the CID itself; a
// missing block throws ia::Error(NotFound).
Bytes load_block(Blockstore& store, const Cid& cid);
// load_block into a reused buffer (Blockstore::get_into).
void load_block_into(Blockstore& store, const Cid& cid, Bytes& out);

}  // namespace ia::ipfs
