#pragma once
// Device memory for one GPU: a caching allocator (freed blocks are kept by size and handed out
// again, so the hot path does not call cudaMalloc, which synchronises the device) and the Storage
// that tensors on the GPU hold. All work of a backend runs on its one stream, so a block freed
// by a tensor whose kernels are still queued can be reused by a later kernel on that stream:
// stream order makes it safe, as PyTorch's caching allocator reasons.
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>

#include "core/storage.h"

namespace ia::cuda {

// Blocks kept for one recorded graph (see DeviceAllocator::begin_private_pool): a replay writes
// the addresses the recording was given, so no one else may be handed them while it lives.
struct PrivatePool {
  std::multimap<size_t, void*> free;  // freed blocks, reusable by this recording only
  bool retired = false;               // the recording is gone: blocks go back to everyone
};

class DeviceAllocator : public std::enable_shared_from_this<DeviceAllocator> {
 public:
  explicit DeviceAllocator(int device) : device_(device) {}
  ~DeviceAllocator();
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  // A block of at least `bytes`; on cudaMalloc failure the cached blocks are released and the
  // allocation retried once, then ErrorKind::Unavailable with the sizes.
  std::shared_ptr<Storage> allocate(size_t bytes);
  // Until end_private_pool, this thread's allocations come from (and their blocks return to) a
  // pool of their own, as PyTorch's graph pools: the ops recorded into a graph are replayed on
  // the same addresses later, while the general pool has moved on. Other threads are unaffected.
  std::shared_ptr<PrivatePool> begin_private_pool();
  void end_private_pool();
  // The recording is gone: its pool's blocks (now and as they are freed) serve everyone again.
  void retire(const std::shared_ptr<PrivatePool>& pool);
  // Returns every cached block to the driver.
  void release_cached();
  size_t cached_bytes() const;
  size_t in_use_bytes() const;

 private:
  friend class DeviceStorage;
  void give_back(void* ptr, size_t bytes, PrivatePool* pool);
  std::shared_ptr<PrivatePool> active_pool() const;
  static size_t rounded(size_t bytes);

  int device_;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;  // cached blocks by their (rounded) size
  size_t cached_ = 0;
  size_t in_use_ = 0;
};

class DeviceStorage final : public Storage {
 public:
  DeviceStorage(std::shared_ptr<DeviceAllocator> owner, void* ptr, size_t bytes, size_t block_bytes, int device,
                std::shared_ptr<PrivatePool> pool)
      : owner_(std::move(owner)),
        ptr_(ptr),
        bytes_(bytes),
        block_bytes_(block_bytes),
        device_(device),
        pool_(std::move(pool)),
        charge_(Device::cuda(device), block_bytes) {}
  ~DeviceStorage() override { owner_->give_back(ptr_, block_bytes_, pool_.get()); }
  DeviceStorage(const DeviceStorage&) = delete;
  DeviceStorage& operator=(const DeviceStorage&) = delete;
  void* data() override { return ptr_; }
  size_t size_bytes() const override { return bytes_; }
  Device device() const override { return Device::cuda(device_); }

 private:
  std::shared_ptr<DeviceAllocator> owner_;  // outlives every block it handed out
  void* ptr_;
  size_t bytes_;
  size_t block_bytes_;
  int device_;
  std::shared_ptr<PrivatePool> pool_;  // null: the general pool
  MemoryCharge charge_;                // the creating thread's memory account (core/memory_account.h)
};

}  // namespace ia::cuda
