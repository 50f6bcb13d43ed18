#pragma once
// What a loaded model holds in memory, measured where memory is taken: every storage (host
// memory, a mapped file, device memory) charges its bytes to the account current on the thread
// that creates it, and refunds them when it is freed, on whatever thread that happens. The
// resource pool (runtime/model_pool.h) opens an account per model around its load, and the
// threads that run the model's requests charge it too, so the account's live bytes are what the
// model keeps (weights, KV cache) and its peak what it needed while working.
//
// Outside any account nothing is charged; the cost there is one thread-local read per storage.
#include <atomic>
#include <cstdint>
#include <memory>

#include "core/device.h"

namespace ia {

class MemoryAccount {
 public:
  // Live bytes in host memory (allocations and mapped files) and in device memory (every GPU).
  int64_t host_bytes() const { return host_.load(std::memory_order_relaxed); }
  int64_t device_bytes() const { return device_.load(std::memory_order_relaxed); }
  // Those of `device`'s kind: host bytes for the CPU, device bytes for a GPU.
  int64_t bytes_on(Device device) const { return device.is_cpu() ? host_bytes() : device_bytes(); }
  // The most that was live at once since the last reset_peaks(), same split.
  int64_t peak_on(Device device) const {
    return (device.is_cpu() ? host_peak_ : device_peak_).load(std::memory_order_relaxed);
  }
  void reset_peaks();

  void charge(Device device, int64_t bytes);
  void refund(Device device, int64_t bytes);

 private:
  std::atomic<int64_t> host_{0}, device_{0}, host_peak_{0}, device_peak_{0};
};

// Storages made on this thread while it lives are charged to `account` (null: none); the
// previous account is current again afterwards. Scopes nest.
class ChargeMemoryTo {
 public:
  explicit ChargeMemoryTo(std::shared_ptr<MemoryAccount> account);
  ~ChargeMemoryTo();
  ChargeMemoryTo(const ChargeMemoryTo&) = delete;
  ChargeMemoryTo& operator=(const ChargeMemoryTo&) = delete;

 private:
  std::shared_ptr<MemoryAccount> previous_;
};

// The account this thread charges now (null outside any ChargeMemoryTo).
std::shared_ptr<MemoryAccount> current_memory_account();

// A storage's charge: taken from the thread's current account at construction, refunded to the
// same account at destruction (the account lives as long as a charge does).
class MemoryCharge {
 public:
  MemoryCharge(Device device, size_t bytes);
  ~MemoryCharge();
  MemoryCharge(const MemoryCharge&) = delete;
  MemoryCharge& operator=(const MemoryCharge&) = delete;

 private:
  std::shared_ptr<MemoryAccount> account_;
  Device device_;
  int64_t bytes_;
};

}  // namespace ia
