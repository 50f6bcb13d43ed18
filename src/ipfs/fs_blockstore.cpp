#include "ipfs/fs_blockstore.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

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
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(ErrorKind::Unavailable, "{}: write error: {}", tmp.string(), std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if ((durable && ::fsync(fd) != 0) || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(ErrorKind::Unavailable, "{}: cannot flush: {}", tmp.string(), std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(ErrorKind::Unavailable, "{}: cannot rename into place: {}", path.string(), std::strerror(err));
  }
}

FsBlockstore::FsBlockstore(fs::path dir) : dir_(std::move(dir)) {}

fs::path FsBlockstore::path_of(const Multihash& mh) const {
  std::string key = key_of(mh);
  return dir_ / key.substr(key.size() - 3, 2) / (key + std::string(kSuffix));
}

void FsBlockstore::put(const Cid& cid, BytesView block) {
  if (cid.hash.code == kHashIdentity) return;  // the CID carries the bytes
  fs::path p = path_of(cid.hash);
  std::error_code ec;
  if (fs::exists(p, ec)) return;
  fs::create_directories(p.parent_path(), ec);
  if (ec) fail(ErrorKind::Unavailable, "{}: cannot create folder: {}", p.parent_path().string(), ec.message());
  write_file_atomic(p, block, durable_);
}

bool FsBlockstore::has(const Multihash& mh) {
  if (mh.code == kHashIdentity) return true;
  std::error_code ec;
  return fs::exists(path_of(mh), ec);
}

std::optional<Bytes> FsBlockstore::get_unverified(const Multihash& mh) {
  return read_whole(path_of(mh));
}

std::optional<Bytes> FsBlockstore::get(const Multihash& mh) {
  if (mh.code == kHashIdentity) return mh.digest;
  auto block = read_whole(path_of(mh));
  if (block && !multihash_matches(mh, *block)) {
    fail(ErrorKind::Corrupt, "stored block {} does not match its hash (run `ipfs repo verify`)",
         path_of(mh).filename().string());
  }
  return block;
}

bool FsBlockstore::remove(const Multihash& mh) {
  std::error_code ec;
  return fs::remove(path_of(mh), ec);
}

void FsBlockstore::for_each(const std::function<void(const Multihash&)>& fn) {
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
