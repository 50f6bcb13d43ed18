#include "ipfs/repo_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "core/error.h"

namespace ia::ipfs {

namespace fs = std::filesystem;

RepoLock::RepoLock(fs::path file) : file_(std::move(file)) {}

RepoLock::~RepoLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

void RepoLock::open_locked() {
  if (fd_ >= 0) return;
  std::error_code ec;
  fs::create_directories(file_.parent_path(), ec);
  fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0)
    fail(ErrorKind::Unavailable, "{}: cannot open the repository lock: {}", file_.string(), std::strerror(errno));
}

void RepoLock::lock_shared() {
  std::lock_guard lock(mu_);
  if (held_) return;
  open_locked();
  while (::flock(fd_, LOCK_SH) != 0) {
    if (errno != EINTR)
      fail(ErrorKind::Unavailable, "{}: cannot lock the repository: {}", file_.string(), std::strerror(errno));
  }
  held_ = true;
}

void RepoLock::lock_exclusive(std::chrono::milliseconds wait) {
  std::lock_guard lock(mu_);
  open_locked();
  // Converting with LOCK_NB may drop the shared hold and fail (flock(2)); drop it
  // first so `held_` never claims a lock that is gone.
  if (held_) ::flock(fd_, LOCK_UN);
  held_ = false;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) break;
    if (errno != EWOULDBLOCK && errno != EINTR)
      fail(ErrorKind::Unavailable, "{}: cannot lock the repository: {}", file_.string(), std::strerror(errno));
    if (std::chrono::steady_clock::now() >= deadline) {
      fail(ErrorKind::Unavailable, "the repository is in use by a running add or fetch (waited {} s); try again later",
           wait.count() / 1000);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  held_ = true;
}

void RepoLock::unlock() {
  std::lock_guard lock(mu_);
  if (fd_ >= 0 && held_) ::flock(fd_, LOCK_UN);
  held_ = false;
}

bool RepoLock::held() const {
  std::lock_guard lock(mu_);
  return held_;
}

}  // namespace ia::ipfs
