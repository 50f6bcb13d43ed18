#pragma once
// The on-disk blockstore: one file per block under HOME/blocks, named by the
// base32 of its multihash (so CIDv0 and CIDv1 of the same bytes share a file)
// and sharded by the next-to-last two characters, as kubo's flatfs does.
// Writes go to a unique temporary name, are fsync'd and renamed into place, so
// readers never see a partial block and concurrent writers of the same block
// race harmlessly (both renames install identical bytes).
#include <filesystem>

#include "ipfs/blockstore.h"

namespace ia::ipfs {

// $IPFS_ACCELERATE_HOME, else ~/.cache/ipfs-accelerate.
std::filesystem::path default_home();

class FsBlockstore : public Blockstore {
 public:
  // `dir` is created on the first write.
  explicit FsBlockstore(std::filesystem::path dir);

  void put(const Cid& cid, BytesView block) override;
  bool has(const Multihash& mh) override;
  std::optional<Bytes> get(const Multihash& mh) override;
  bool remove(const Multihash& mh) override;
  void for_each(const std::function<void(const Multihash&)>& fn) override;

  // The bytes as stored, unverified (for `repo verify`).
  std::optional<Bytes> get_unverified(const Multihash& mh);
  std::filesystem::path path_of(const Multihash& mh) const;
  const std::filesystem::path& dir() const { return dir_; }
  // Whether put() fsyncs (on by default; tests and --only-hash style bulk runs may turn it off).
  void set_durable(bool durable) { durable_ = durable; }

 private:
  std::filesystem::path dir_;
  bool durable_ = true;
};

// Writes `bytes` to `path` through a temporary file in the same folder,
// fsync and rename: the file is either absent or complete.
void write_file_atomic(const std::filesystem::path& path, BytesView bytes, bool durable = true);

}  // namespace ia::ipfs
