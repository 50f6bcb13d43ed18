#include "ipfs/fs_blockstore.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
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

// Reads the whole file into `out` (false when it does not exist), sized by
// fstat and read straight into `out`: one copy from the page cache, and no
// allocation when `out` already has the capacity (Blockstore::get_into).
// Appending through a stack buffer, as this once did, copied every block
// twice and regrew the string (64, 128, 256 KiB) on every read.
bool read_whole_into(const fs::path& path, Bytes& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    fail(ErrorKind::Unavailable, "{}: cannot open: {}", path.string(), std::strerror(errno));
  }
  auto read_error = [&](int err) {
    ::close(fd);
    fail(ErrorKind::Unavailable, "{}: read error: {}", path.string(), std::strerror(err));
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) read_error(errno);
  // One byte past the size, so a file that grew since fstat is noticed and read on.
  size_t want = static_cast<size_t>(st.st_size) + 1, got = 0;
  out.resize(want);
  for (;;) {
    if (got == out.size()) out.resize(out.size() * 2);
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      read_error(errno);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return true;
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

bool FsBlockstore::read_unverified(const Multihash& mh, Bytes& out) {
  if (auto tmp = staged_path(mh)) {
    if (read_whole_into(*tmp, out)) return true;  // else committed meanwhile: read the final name
  }
  return read_whole_into(path_of(mh), out);
}

std::optional<Bytes> FsBlockstore::get_unverified(const Multihash& mh) {
  Bytes block;
  if (!read_unverified(mh, block)) return std::nullopt;
  return block;
}

std::optional<Bytes> FsBlockstore::get(const Multihash& mh) {
  Bytes block;
  if (!get_into(mh, block)) return std::nullopt;
  return block;
}

bool FsBlockstore::get_into(const Multihash& mh, Bytes& out) {
  if (mh.code == kHashIdentity) {
    out.assign(mh.digest);
    return true;
  }
  if (!read_unverified(mh, out)) return false;
  // The one hash of a block read: a corrupt repo is never served as if whole.
  if (!multihash_matches(mh, out)) {
    fail(ErrorKind::Corrupt, "stored block {} does not match its hash (run `ipfs repo verify`)",
         path_of(mh).filename().string());
  }
  return true;
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
