// Host memory of the CPU backend: pooled allocation of op outputs and host-to-host copies.
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <list>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "backends/cpu/cpu_common.h"
#include "backends/cpu/cpu_ops.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::cpu {
namespace {

// Generic strided copy of n-d tensors of one dtype (element size es).
void strided_copy(const char* src, const Shape& shape, const Shape& sst, char* dst, const Shape& dstr, size_t es) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  if (nd == 0) {
    std::memcpy(dst, src, es);
    return;
  }
  const int64_t inner = shape[static_cast<size_t>(nd - 1)];
  const bool inner_contig = sst[static_cast<size_t>(nd - 1)] == 1 && dstr[static_cast<size_t>(nd - 1)] == 1;
  int64_t outer = 1;
  for (int64_t d = 0; d + 1 < nd; ++d) outer *= shape[static_cast<size_t>(d)];
  parallel_for(outer, row_grain(inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t rem = r, so = 0, dof = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        int64_t idx = rem % shape[static_cast<size_t>(d)];
        rem /= shape[static_cast<size_t>(d)];
        so += idx * sst[static_cast<size_t>(d)];
        dof += idx * dstr[static_cast<size_t>(d)];
      }
      if (inner_contig) {
        std::memcpy(dst + static_cast<size_t>(dof) * es, src + static_cast<size_t>(so) * es,
                    static_cast<size_t>(inner) * es);
      } else {
        const int64_t ss = sst[static_cast<size_t>(nd - 1)], ds = dstr[static_cast<size_t>(nd - 1)];
        for (int64_t i = 0; i < inner; ++i)
          std::memcpy(dst + static_cast<size_t>(dof + i * ds) * es, src + static_cast<size_t>(so + i * ss) * es, es);
      }
    }
  });
}

// Host memory pool for op outputs. glibc serves large blocks with mmap and
// returns them on free, so every fresh activation would page-fault its way in
// (tens of ms per BERT layer). Freed blocks are kept, by exact capacity, up
// to a bound, and handed out again: the same shapes recur every layer.
class HostPool {
 public:
  static HostPool& get() {
    static HostPool* p = new HostPool();  // leaked: storages may die during exit
    return *p;
  }

  static size_t capacity_for(size_t bytes) {
    if (bytes <= 4096) return std::max<size_t>(64, (bytes + 63) / 64 * 64);
    // Round up to 1/8 steps of the next power of two: <= 12.5% waste.
    size_t p = 4096;
    while (p < bytes) p <<= 1;
    size_t step = p / 8;
    return (bytes + step - 1) / step * step;
  }

  void* take(size_t cap) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = by_cap_.find(cap);
      if (it != by_cap_.end()) {
        void* p = it->second->ptr;
        blocks_.erase(it->second);
        by_cap_.erase(it);
        cached_ -= cap;
        return p;
      }
    }
    const size_t align = cap >= (2u << 20) ? (2u << 20) : 64;
    void* p = std::aligned_alloc(align, (cap + align - 1) / align * align);
    if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    if (align == (2u << 20)) madvise(p, cap, MADV_HUGEPAGE);
#endif
    return p;
  }

  void give(void* p, size_t cap) {
    std::vector<void*> drop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cap > limit_) {
        drop.push_back(p);
      } else {
        // Evict the least recently returned blocks to make room.
        while (cached_ + cap > limit_ && !blocks_.empty()) {
          Block& old = blocks_.back();
          auto range = by_cap_.equal_range(old.cap);
          for (auto it = range.first; it != range.second; ++it) {
            if (it->second == std::prev(blocks_.end())) {
              by_cap_.erase(it);
              break;
            }
          }
          cached_ -= old.cap;
          drop.push_back(old.ptr);
          blocks_.pop_back();
        }
        blocks_.push_front(Block{cap, p});
        by_cap_.emplace(cap, blocks_.begin());
        cached_ += cap;
      }
    }
    for (void* d : drop) std::free(d);
  }

  void trim() {
    std::lock_guard<std::mutex> lock(mu_);
    for (Block& b : blocks_) std::free(b.ptr);
    blocks_.clear();
    by_cap_.clear();
    cached_ = 0;
  }

 private:
  struct Block {
    size_t cap;
    void* ptr;
  };
  HostPool() {
    if (const char* e = std::getenv("IA_CPU_POOL_MB")) limit_ = static_cast<size_t>(std::atoll(e)) << 20;
  }
  std::mutex mu_;
  std::list<Block> blocks_;  // front = most recently returned
  std::multimap<size_t, std::list<Block>::iterator> by_cap_;
  size_t cached_ = 0;
  size_t limit_ = size_t{1} << 30;  // 1 GiB of idle blocks at most (IA_CPU_POOL_MB)
};

class PooledStorage final : public Storage {
 public:
  explicit PooledStorage(size_t bytes)
      : bytes_(bytes),
        cap_(HostPool::capacity_for(bytes)),
        ptr_(HostPool::get().take(cap_)),
        charge_(Device::cpu(), cap_) {}
  ~PooledStorage() override { HostPool::get().give(ptr_, cap_); }
  PooledStorage(const PooledStorage&) = delete;
  PooledStorage& operator=(const PooledStorage&) = delete;
  void* data() override { return ptr_; }
  size_t size_bytes() const override { return bytes_; }
  Device device() const override { return Device::cpu(); }

 private:
  size_t bytes_, cap_;
  void* ptr_;
  MemoryCharge charge_;  // the thread's memory account (core/memory_account.h)
};

}  // namespace

std::shared_ptr<Storage> allocate_host(size_t bytes) {
  return std::make_shared<PooledStorage>(bytes);
}

void copy_host(const Tensor& src, Tensor& dst) {
  IA_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(), "cpu copy: {} -> {} differ", src.describe(),
           dst.describe());
  IA_CHECK(src.device().is_cpu() && dst.device().is_cpu(), "cpu copy: {} -> {} is not host to host", src.describe(),
           dst.describe());
  if (src.numel() == 0) return;
  if (src.is_contiguous() && dst.is_contiguous()) {
    const char* s = static_cast<const char*>(src.raw());
    char* d = static_cast<char*>(dst.raw());
    const int64_t n = static_cast<int64_t>(src.nbytes());
    parallel_for(n, 1 << 20, [&](int64_t b, int64_t e) { std::memcpy(d + b, s + b, static_cast<size_t>(e - b)); });
    return;
  }
  strided_copy(static_cast<const char*>(src.raw()), src.shape(), src.strides(), static_cast<char*>(dst.raw()),
               dst.strides(), dtype_size(src.dtype()));
}

void trim_host_pool() {
  HostPool::get().trim();
}

}  // namespace ia::cpu
