#include "core/storage.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "core/error.h"

namespace ia {

HostStorage::HostStorage(size_t bytes) : bytes_(bytes), charge_(Device::cpu(), bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  ptr_ = std::aligned_alloc(64, rounded);
  if (!ptr_) throw std::bad_alloc();
}

HostStorage::~HostStorage() {
  std::free(ptr_);
}

namespace {

// The live mappings, readable from a signal handler: fixed slots, lock-free
// atomics, the path copied into the slot (no allocation in the handler).
constexpr int kGuardSlots = 256;
constexpr size_t kGuardPathMax = 512;
struct GuardSlot {
  std::atomic<uintptr_t> begin{0}, end{0};
  char path[kGuardPathMax] = {};
  std::atomic<size_t> path_len{0};
};
GuardSlot g_slots[kGuardSlots];
std::mutex g_slots_mu;  // serialises claims and releases (never taken by the handler)
struct sigaction g_previous_sigbus {};

void write_all_stderr(const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(2, p, n);
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (auto& slot : g_slots) {
    uintptr_t b = slot.begin.load(std::memory_order_acquire), e = slot.end.load(std::memory_order_acquire);
    if (b != 0 && addr >= b && addr < e) {
      static const char kHead[] = "ipfs-accelerate: error: ";
      static const char kTail[] = " was truncated or removed while its weights were in use; reload the model\n";
      write_all_stderr(kHead, sizeof kHead - 1);
      write_all_stderr(slot.path, std::min(slot.path_len.load(std::memory_order_acquire), kGuardPathMax));
      write_all_stderr(kTail, sizeof kTail - 1);
      ::_exit(2);
    }
  }
  // Not one of ours: whoever handled it before, else the default action
  // (returning re-runs the faulting access, which then takes it).
  if ((g_previous_sigbus.sa_flags & SA_SIGINFO) && g_previous_sigbus.sa_sigaction) {
    g_previous_sigbus.sa_sigaction(sig, info, context);
  } else if (g_previous_sigbus.sa_handler != SIG_DFL && g_previous_sigbus.sa_handler != SIG_IGN) {
    g_previous_sigbus.sa_handler(sig);
  } else {
    ::signal(SIGBUS, SIG_DFL);
  }
}

void install_sigbus_guard() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = &on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous_sigbus);
  });
}

int claim_guard_slot(const void* ptr, size_t size, const std::string& path) {
  std::lock_guard lock(g_slots_mu);
  for (int i = 0; i < kGuardSlots; ++i) {
    GuardSlot& slot = g_slots[i];
    if (slot.begin.load() != 0) continue;
    size_t n = std::min(path.size(), kGuardPathMax);
    std::memcpy(slot.path, path.data(), n);
    slot.path_len.store(n, std::memory_order_release);
    slot.end.store(reinterpret_cast<uintptr_t>(ptr) + size, std::memory_order_release);
    slot.begin.store(reinterpret_cast<uintptr_t>(ptr), std::memory_order_release);
    return i;
  }
  return -1;
}

void release_guard_slot(int i) {
  std::lock_guard lock(g_slots_mu);
  g_slots[i].begin.store(0, std::memory_order_release);
  g_slots[i].end.store(0, std::memory_order_release);
}

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::NotFound, "{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorKind::InvalidArgument, "{}: not a regular file", path);
  }
  auto mf = std::shared_ptr<MappedFile>(new MappedFile());
  mf->path_ = path;
  mf->size_ = static_cast<size_t>(st.st_size);
  if (mf->size_ > 0) {
    void* p = ::mmap(nullptr, mf->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail(ErrorKind::Internal, "{}: mmap failed: {}", path, std::strerror(e));
    }
    mf->ptr_ = p;
    install_sigbus_guard();
    mf->guard_slot_ = claim_guard_slot(p, mf->size_, path);
  }
  ::close(fd);
  return mf;
}

MappedFile::~MappedFile() {
  if (guard_slot_ >= 0) release_guard_slot(guard_slot_);
  if (ptr_) ::munmap(ptr_, size_);
}

void MappedStorage::drop_resident(const void* begin, size_t bytes) const {
  const auto base = reinterpret_cast<uintptr_t>(file_->data()) + offset_;
  auto lo = reinterpret_cast<uintptr_t>(begin);
  auto hi = lo + bytes;
  lo = std::max(lo, base);
  hi = std::min(hi, base + bytes_);
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  lo = (lo + page - 1) / page * page;  // whole pages only: neighbours keep theirs
  hi = hi / page * page;
  if (hi > lo) (void)::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

std::shared_ptr<MappedStorage> MappedStorage::joined_with(const MappedStorage& next) const {
  if (next.file_ != file_ || next.offset_ != offset_ + bytes_) return nullptr;
  return std::make_shared<MappedStorage>(file_, offset_, bytes_ + next.bytes_);
}

}  // namespace ia
