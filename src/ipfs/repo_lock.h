#pragma once
// The repository's GC lock, the role kubo's GCLocker plays: every writer (add,
// fetch, car import, block put, pin add) holds it shared from its first write
// until its process lets go of the repository (after the pin is written);
// `repo gc` holds it exclusive from reading the pins to its last delete. So gc
// never sees a block that a live writer has stored but not pinned yet, and a
// pin is never written while gc is deleting.
//
// It is an flock(2) on one file: it works across processes and, because each
// RepoLock opens its own file description, across threads of one process;
// the kernel drops it when a writer dies, so a killed add never wedges gc.
#include <chrono>
#include <filesystem>
#include <mutex>

namespace ia::ipfs {

class RepoLock {
 public:
  // `file` (and its folder) is created on the first lock.
  explicit RepoLock(std::filesystem::path file);
  ~RepoLock();
  RepoLock(const RepoLock&) = delete;
  RepoLock& operator=(const RepoLock&) = delete;

  // Shared (a writer). A no-op when already held, shared or exclusive. Waits
  // while a gc runs.
  void lock_shared();
  // Exclusive (gc): waits up to `wait` for writers to finish, then throws
  // Unavailable. A shared hold of this object is converted.
  void lock_exclusive(std::chrono::milliseconds wait);
  void unlock();
  bool held() const;

 private:
  void open_locked();
  std::filesystem::path file_;
  mutable std::mutex mu_;
  int fd_ = -1;
  bool held_ = false;
};

}  // namespace ia::ipfs
