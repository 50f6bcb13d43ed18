#pragma once
// The on-disk blockstore: one file per block under HOME/blocks, named by the
// base32 of its multihash (so CIDv0 and CIDv1 of the same bytes share a file)
// and sharded by the next-to-last two characters, as kubo's flatfs does.
//
// Durability is batched, because one fsync per block made `add`/`fetch`
// fsync-bound (~35 MB/s). put() writes the block to a unique temporary name in
// its shard folder (no fsync; writeback is started) and keeps it "staged":
// this object serves it from there. A commit (sync(), every
// kCommitBytes/kCommitBlocks/kCommitInterval, before pins are written, and on
// destruction) makes the staged files durable with one syncfs, renames them
// to their final names, and syncs again so the names are durable too.
//
// Crash semantics: a block file under its final name was complete and
// verified on disk before it got that name, so after a crash (kill -9 or power
// loss) a block is either absent or intact; at most the last uncommitted batch
// is lost and fetched again. Leftover temporaries are removed by
// remove_stale_temps() (`repo gc`). `repo verify` re-hashes everything anyway.
// Concurrent writers of the same block race harmlessly (both renames install
// identical bytes).
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>

#include "ipfs/blockstore.h"
#include "ipfs/repo_lock.h"

namespace ia::ipfs {

// $IPFS_ACCELERATE_HOME, else ~/.cache/ipfs-accelerate.
std::filesystem::path default_home();

class FsBlockstore : public Blockstore {
 public:
  static constexpr uint64_t kCommitBytes = 64ull << 20;
  static constexpr size_t kCommitBlocks = 4096;
  static constexpr std::chrono::milliseconds kCommitInterval{1000};

  // `dir` is created on the first write.
  explicit FsBlockstore(std::filesystem::path dir);
  // Commits what is staged (errors are logged: a destructor cannot report them).
  ~FsBlockstore() override;
  FsBlockstore(const FsBlockstore&) = delete;
  FsBlockstore& operator=(const FsBlockstore&) = delete;

  void put(const Cid& cid, BytesView block) override;
  bool has(const Multihash& mh) override;
  std::optional<Bytes> get(const Multihash& mh) override;
  bool get_into(const Multihash& mh, Bytes& out) override;
  bool remove(const Multihash& mh) override;
  // Commits first, so the listing is what is on disk under final names.
  void for_each(const std::function<void(const Multihash&)>& fn) override;
  void sync() override;

  // The bytes as stored, unverified (for `repo verify`).
  std::optional<Bytes> get_unverified(const Multihash& mh);
  // The final name of a block (where it lives once committed).
  std::filesystem::path path_of(const Multihash& mh) const;
  const std::filesystem::path& dir() const { return dir_; }
  // Blocks written but not yet committed.
  size_t staged() const;
  // Whether commits sync to disk (on by default; benchmarks of the pure CPU path may turn it off).
  void set_durable(bool durable) { durable_ = durable; }
  // Deletes temporaries left by processes that no longer run; returns how many.
  size_t remove_stale_temps();
  // The repository's GC lock (DIR.gc-lock): put() takes it shared before its
  // first write and this object keeps it until destroyed, so nothing it stored
  // is collectable before its owner has pinned it.
  RepoLock& gc_lock() { return gc_lock_; }

 private:
  struct Staged {
    std::filesystem::path tmp, final;
    uint64_t size = 0;
  };
  void commit_locked();
  // The stored bytes into `out` (staged or committed); false when absent.
  bool read_unverified(const Multihash& mh, Bytes& out);
  std::optional<std::filesystem::path> staged_path(const Multihash& mh) const;

  std::filesystem::path dir_;
  RepoLock gc_lock_{dir_.string() + ".gc-lock"};  // beside the folder: its listing holds blocks only
  bool durable_ = true;
  mutable std::mutex mu_;
  std::map<Multihash, Staged> staged_;
  uint64_t staged_bytes_ = 0;
  std::chrono::steady_clock::time_point staged_since_{};
};

// Writes `bytes` to `path` through a temporary file in the same folder,
// fsync and rename: the file is either absent or complete.
void write_file_atomic(const std::filesystem::path& path, BytesView bytes, bool durable = true);

}  // namespace ia::ipfs
