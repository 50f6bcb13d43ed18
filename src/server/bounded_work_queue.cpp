#include "server/bounded_work_queue.h"

#include "core/memory_account.h"

namespace ia::server {

// The worker charges what its tasks allocate to the memory account of the thread that made the
// queue (a model's, when the resource pool loads it: runtime/model_pool.h).
BoundedWorkQueue::BoundedWorkQueue(size_t capacity)
    : capacity_(capacity), worker_([this, account = current_memory_account()] {
        ChargeMemoryTo charge(account);
        work();
      }) {}

BoundedWorkQueue::~BoundedWorkQueue() {
  close();
  worker_.join();
}

bool BoundedWorkQueue::try_push(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    // An idle worker takes the next task at once: it does not count as waiting.
    if (closed_ || tasks_.size() >= capacity_ + (busy_ ? 0 : 1)) return false;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void BoundedWorkQueue::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

size_t BoundedWorkQueue::waiting() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

bool BoundedWorkQueue::busy() const {
  std::lock_guard lock(mu_);
  return busy_;
}

void BoundedWorkQueue::work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return closed_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // closed and nothing left
      task = std::move(tasks_.front());
      tasks_.pop_front();
      busy_ = true;
    }
    task();  // tasks report their own errors (they own a stream or a promise)
    std::lock_guard lock(mu_);
    busy_ = false;
  }
}

}  // namespace ia::server
