#include "ipfs/fs_blockstore.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "ipfs/multibase.h"

namespace ia::ipfs {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSuffix = ".data";

std::string key_of(const Multihash& mh) {
  return encode_base(Multibase::Base32, mh.bytes());
}

std::string unique_suffix() {
  static std::atomic<uint64_t> counter{0};
  return fmt::format(".tmp-{}-{}-{}", ::getpid(), std::hash<std::thread::id>()(std::this_thread::get_id()) % 1000000,
                     counter.fetch_add(1));
}

std::optional<Bytes> read_whole(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail(ErrorKind::Unavailable, "{}: cannot open: {}", path.string(), std::strerror(errno));
  }
  Bytes out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      fail(ErrorKind::Unavailable, "{}: read error: {}", path.string(), std::strerror(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// Returns 0 or the errno of the failed write.
int write_all(int fd, BytesView bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

fs::path default_home() {
  if (const char* h = std::getenv("IPFS_ACCELERATE_HOME"); h && *h) return fs::path(h);
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "ipfs-accelerate";
  fail(ErrorKind::InvalidArgument, "neither IPFS_ACCELERATE_HOME nor HOME is set");
}

void write_file_atomic(const fs::path& path, BytesView bytes, bool durable) {
  fs::path tmp = path;
  tmp += unique_suffix();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail(ErrorKind::Unavailable, "{}: cannot create: {}", tmp.string(), std::strerror(errno));
  if (int err = write_all(fd, bytes)) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(ErrorKind::Unavailable, "{}: write error: {}", tmp.string(), std::strerror(err));
  }
  // Close whether or not the flush worked (a failed fsync must not leak the descriptor).
  const int sync_err = durable && ::fsync(fd) != 0 ? errno : 0;
  const int close_err = ::close(fd) != 0 ? errno : 0;
  if (sync_err || close_err) {
    const int err = sync_err ? sync_err : close_err;
    ::unlink(tmp.c_str());
    fail(ErrorKind::Unavailable, "{}: cannot flush: {}", tmp.string(), std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(ErrorKind::Unavailable, "{}: cannot rename into place: {}", path.string(), std::strerror(err));
  }
  if (durable) {  // the new name itself
    int dfd = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
}

FsBlockstore::FsBlockstore(fs::path dir) : dir_(std::move(dir)) {}

FsBlockstore::~FsBlockstore() {
  try {
    sync();
  } catch (const std::exception& e) {
    spdlog::error("blockstore {}: could not commit staged blocks: {}", dir_.string(), e.what());
  }
}

fs::path FsBlockstore::path_of(const Multihash& mh) const {
  std::string key = key_of(mh);
  return dir_ / key.substr(key.size() - 3, 2) / (key + std::string(kSuffix));
}

std::optional<fs::path> FsBlockstore::staged_path(const Multihash& mh) const {
  std::lock_guard lock(mu_);
  auto it = staged_.find(mh);
  if (it == staged_.end()) return std::nullopt;
  return it->second.tmp;
}

size_t FsBlockstore::staged() const {
  std::lock_guard lock(mu_);
  return staged_.size();
}

void FsBlockstore::put(const Cid& cid, BytesView block) {
  if (cid.hash.code == kHashIdentity) return;  // the CID carries the bytes
  // Before anything is written or found present: a block this writer relies on
  // (new or already stored) stays until it lets go of the repository.
  gc_lock_.lock_shared();
  if (staged_path(cid.hash)) return;
  fs::path p = path_of(cid.hash);
  std::error_code ec;
  if (fs::exists(p, ec)) return;
  fs::create_directories(p.parent_path(), ec);
  if (ec) fail(ErrorKind::Unavailable, "{}: cannot create folder: {}", p.parent_path().string(), ec.message());
  fs::path tmp = p;
  tmp += unique_suffix();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail(ErrorKind::Unavailable, "{}: cannot create: {}", tmp.string(), std::strerror(errno));
  int err = write_all(fd, block);
  // Start writeback now so the commit's syncfs finds little left to write.
  if (!err && durable_) ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  if (::close(fd) != 0 && !err) err = errno;
  if (err) {
    ::unlink(tmp.c_str());
    fail(ErrorKind::Unavailable, "{}: write error: {}", tmp.string(), std::strerror(err));
  }
  std::lock_guard lock(mu_);
  auto [it, fresh] = staged_.try_emplace(cid.hash, Staged{tmp, p, block.size()});
  if (!fresh) {  // another thread staged the same block meanwhile
    ::unlink(tmp.c_str());
    return;
  }
  if (staged_.size() == 1) staged_since_ = std::chrono::steady_clock::now();
  staged_bytes_ += block.size();
  if (staged_bytes_ >= kCommitBytes || staged_.size() >= kCommitBlocks ||
      std::chrono::steady_clock::now() - staged_since_ >= kCommitInterval) {
    commit_locked();
  }
}

void FsBlockstore::sync() {
  std::lock_guard lock(mu_);
  commit_locked();
}

void FsBlockstore::commit_locked() {
  if (staged_.empty()) return;
  auto drop_all = [&] {
    for (const auto& [mh, s] : staged_) ::unlink(s.tmp.c_str());
    staged_.clear();
    staged_bytes_ = 0;
  };
  // One syncfs flushes every staged file (and their folders) in one journal
  // commit; fsync per file would force one commit each.
  int dfd = -1;
  if (durable_) {
    dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || ::syncfs(dfd) != 0) {
      int err = errno;
      if (dfd >= 0) ::close(dfd);
      drop_all();
      fail(ErrorKind::Unavailable, "{}: cannot sync staged blocks: {}", dir_.string(), std::strerror(err));
    }
  }
  // Only now, with the bytes on disk, do the blocks get their final names.
  int rename_err = 0;
  for (const auto& [mh, s] : staged_) {
    if (::rename(s.tmp.c_str(), s.final.c_str()) != 0) {
      rename_err = errno;
      ::unlink(s.tmp.c_str());
    }
  }
  staged_.clear();
  staged_bytes_ = 0;
  if (dfd >= 0) {
    int rc = ::syncfs(dfd);  // the renames themselves, before anything (a pin) depends on them
    int err = errno;
    ::close(dfd);
    if (rc != 0) fail(ErrorKind::Unavailable, "{}: cannot sync block names: {}", dir_.string(), std::strerror(err));
  }
  if (rename_err)
    fail(ErrorKind::Unavailable, "{}: cannot rename blocks into place: {}", dir_.string(), std::strerror(rename_err));
}

bool FsBlockstore::has(const Multihash& mh) {
  if (mh.code == kHashIdentity) return true;
  if (staged_path(mh)) return true;
  std::error_code ec;
  return fs::exists(path_of(mh), ec);
}

std::optional<Bytes> FsBlockstore::get_unverified(const Multihash& mh) {
  if (auto tmp = staged_path(mh)) {
    if (auto b = read_whole(*tmp)) return b;  // else committed meanwhile: read the final name
  }
  return read_whole(path_of(mh));
}

std::optional<Bytes> FsBlockstore::get(const Multihash& mh) {
  if (mh.code == kHashIdentity) return mh.digest;
  auto block = get_unverified(mh);
  if (block && !multihash_matches(mh, *block)) {
    fail(ErrorKind::Corrupt, "stored block {} does not match its hash (run `ipfs repo verify`)",
         path_of(mh).filename().string());
  }
  return block;
}

bool FsBlockstore::remove(const Multihash& mh) {
  {
    std::lock_guard lock(mu_);
    auto it = staged_.find(mh);
    if (it != staged_.end()) {
      ::unlink(it->second.tmp.c_str());
      staged_bytes_ -= it->second.size;
      staged_.erase(it);
      return true;
    }
  }
  std::error_code ec;
  return fs::remove(path_of(mh), ec);
}

size_t FsBlockstore::remove_stale_temps() {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return 0;
  size_t removed = 0;
  for (const auto& shard : fs::directory_iterator(dir_, ec)) {
    if (!shard.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(shard.path(), ec)) {
      std::string name = f.path().filename().string();
      size_t at = name.find(".tmp-");
      if (at == std::string::npos) continue;
      long pid = std::strtol(name.c_str() + at + 5, nullptr, 10);
      // A live writer's temporary (ours included) is left alone.
      if (pid > 0 && (pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;
      if (fs::remove(f.path(), ec)) ++removed;
    }
  }
  return removed;
}

void FsBlockstore::for_each(const std::function<void(const Multihash&)>& fn) {
  sync();
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return;
  std::vector<Multihash> found;
  for (const auto& shard : fs::directory_iterator(dir_, ec)) {
    if (!shard.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(shard.path(), ec)) {
      std::string name = f.path().filename().string();
      if (name.size() <= kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) continue;
      try {
        found.push_back(parse_multihash(decode_base(Multibase::Base32, name.substr(0, name.size() - kSuffix.size()))));
      } catch (const Error&) {
        // Not one of ours (a stray file): ignored.
      }
    }
  }
  for (const auto& mh : found) fn(mh);
}

}  // namespace ia::ipfs
