#pragma once
// The local repository under $IPFS_ACCELERATE_HOME: the blockstore plus
// recursive pins (one file per pinned root under pins/, so concurrent pinners
// never rewrite a shared list), garbage collection and verification.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "ipfs/fs_blockstore.h"

namespace ia::ipfs {

struct VerifyReport {
  size_t checked = 0;
  std::vector<std::string> corrupt;  // block file names moved to corrupt/
};

class Repo {
 public:
  explicit Repo(std::filesystem::path home = default_home());

  FsBlockstore& blocks() { return blocks_; }
  const std::filesystem::path& home() const { return home_; }

  // Pins `root` recursively; every block must be present and valid (else
  // NotFound / Corrupt). `known_complete`: the caller has just written or
  // fetched and verified the whole DAG, so the check (a walk that re-reads and
  // re-hashes every block) is skipped.
  void pin_add(const Cid& root, bool known_complete = false);
  // Returns false when it was not pinned.
  bool pin_rm(const Cid& root);
  std::vector<Cid> pins();
  bool is_pinned(const Cid& root);

  // Deletes every block not reachable from a pin (and temporaries of dead writers);
  // returns the removed blocks' count. Holds the GC lock exclusive throughout,
  // so it first waits (up to `wait`, then Unavailable) for running writers -
  // an add or fetch in progress - to pin and let go.
  size_t gc(std::chrono::milliseconds wait = std::chrono::minutes(10));
  // Re-hashes every block; a block that does not match is moved to corrupt/. Reported as a
  // ProgressTask "verifying blocks".
  VerifyReport verify();

 private:
  std::filesystem::path pin_path(const Cid& root) const;
  std::filesystem::path home_;
  FsBlockstore blocks_;
};

}  // namespace ia::ipfs
