#include "backends/cuda/device_memory.h"

#include <cuda_runtime_api.h>

#include "backends/cuda/cuda_check.h"
#include "core/error.h"

namespace ia::cuda {

namespace {
constexpr size_t kSmallLimit = size_t{1} << 20;  // below: 512-byte steps; above: 2 MiB steps
constexpr size_t kSmallStep = 512;
constexpr size_t kLargeStep = size_t{2} << 20;
// A cached block serves a request up to this factor smaller, so one large block is not pinned
// by a small tensor.
constexpr size_t kMaxWaste = 2;

// The private pool this thread allocates from, and for which allocator.
struct ThreadPool {
  const DeviceAllocator* owner = nullptr;
  std::shared_ptr<PrivatePool> pool;
};
thread_local ThreadPool tls_pool;
}  // namespace

size_t DeviceAllocator::rounded(size_t bytes) {
  if (bytes == 0) bytes = 1;
  const size_t step = bytes < kSmallLimit ? kSmallStep : kLargeStep;
  return (bytes + step - 1) / step * step;
}

std::shared_ptr<PrivatePool> DeviceAllocator::begin_private_pool() {
  tls_pool.owner = this;
  tls_pool.pool = std::make_shared<PrivatePool>();
  return tls_pool.pool;
}

void DeviceAllocator::end_private_pool() {
  if (tls_pool.owner == this) tls_pool = {};
}

std::shared_ptr<PrivatePool> DeviceAllocator::active_pool() const {
  return tls_pool.owner == this ? tls_pool.pool : nullptr;
}

void DeviceAllocator::retire(const std::shared_ptr<PrivatePool>& pool) {
  std::lock_guard<std::mutex> lock(mu_);
  pool->retired = true;
  for (auto& [size, ptr] : pool->free) {
    free_.emplace(size, ptr);
    cached_ += size;
  }
  pool->free.clear();
}

DeviceAllocator::~DeviceAllocator() {
  // At process exit the runtime may already be gone; errors here change nothing.
  for (auto& [size, ptr] : free_) cudaFree(ptr);
}

std::shared_ptr<Storage> DeviceAllocator::allocate(size_t bytes) {
  const size_t want = rounded(bytes);
  std::shared_ptr<PrivatePool> pool = active_pool();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& blocks = pool ? pool->free : free_;
    auto it = blocks.lower_bound(want);
    if (it != blocks.end() && it->first <= want * kMaxWaste) {
      const size_t block = it->first;
      void* p = it->second;
      blocks.erase(it);
      if (!pool) cached_ -= block;
      in_use_ += block;
      return std::make_shared<DeviceStorage>(shared_from_this(), p, bytes, block, device_, std::move(pool));
    }
  }
  check(cudaSetDevice(device_), "cudaSetDevice");
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, want);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear the sticky-free error before retrying
    release_cached();
    e = cudaMalloc(&p, want);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    fail(ErrorKind::Unavailable,
         "out of GPU memory on cuda:{}: needed {:.1f} MiB more, {:.1f} MiB of {:.1f} MiB free ({:.1f} MiB held by "
         "this process)",
         device_, want / 1048576.0, free_b / 1048576.0, total_b / 1048576.0, in_use_bytes() / 1048576.0);
  }
  std::lock_guard<std::mutex> lock(mu_);
  in_use_ += want;
  return std::make_shared<DeviceStorage>(shared_from_this(), p, bytes, want, device_, std::move(pool));
}

void DeviceAllocator::give_back(void* ptr, size_t bytes, PrivatePool* pool) {
  std::lock_guard<std::mutex> lock(mu_);
  in_use_ -= bytes;
  if (pool && !pool->retired) {
    pool->free.emplace(bytes, ptr);
    return;
  }
  free_.emplace(bytes, ptr);
  cached_ += bytes;
}

void DeviceAllocator::release_cached() {
  std::multimap<size_t, void*> blocks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    blocks.swap(free_);
    cached_ = 0;
  }
  if (blocks.empty()) return;
  // cudaFree waits for the device, so queued kernels that used these blocks have finished.
  for (auto& [size, ptr] : blocks) cudaFree(ptr);
}

size_t DeviceAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_;
}

size_t DeviceAllocator::in_use_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_;
}

}  // namespace ia::cuda
