#include "core/memory_account.h"

namespace ia {

namespace {

thread_local std::shared_ptr<MemoryAccount> tls_account;

void raise_to(std::atomic<int64_t>& peak, int64_t value) {
  int64_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

void MemoryAccount::reset_peaks() {
  host_peak_.store(host_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  device_peak_.store(device_.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void MemoryAccount::charge(Device device, int64_t bytes) {
  if (device.is_cpu())
    raise_to(host_peak_, host_.fetch_add(bytes, std::memory_order_relaxed) + bytes);
  else
    raise_to(device_peak_, device_.fetch_add(bytes, std::memory_order_relaxed) + bytes);
}

void MemoryAccount::refund(Device device, int64_t bytes) {
  (device.is_cpu() ? host_ : device_).fetch_sub(bytes, std::memory_order_relaxed);
}

ChargeMemoryTo::ChargeMemoryTo(std::shared_ptr<MemoryAccount> account) : previous_(std::move(tls_account)) {
  tls_account = std::move(account);
}

ChargeMemoryTo::~ChargeMemoryTo() {
  tls_account = std::move(previous_);
}

std::shared_ptr<MemoryAccount> current_memory_account() {
  return tls_account;
}

MemoryCharge::MemoryCharge(Device device, size_t bytes)
    : account_(tls_account), device_(device), bytes_(static_cast<int64_t>(bytes)) {
  if (account_) account_->charge(device_, bytes_);
}

MemoryCharge::~MemoryCharge() {
  if (account_) account_->refund(device_, bytes_);
}

}  // namespace ia
