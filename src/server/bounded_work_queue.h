#pragma once
// One worker thread running tasks in arrival order, with at most `capacity`
// tasks waiting behind the one it runs: a model runs one request at a time, and
// a request that would wait past the bound is refused at once (429) instead of
// queueing without limit.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace ia::server {

class BoundedWorkQueue {
 public:
  explicit BoundedWorkQueue(size_t capacity);
  ~BoundedWorkQueue();  // runs what was queued, then joins
  BoundedWorkQueue(const BoundedWorkQueue&) = delete;
  BoundedWorkQueue& operator=(const BoundedWorkQueue&) = delete;

  // False when `capacity` tasks already wait behind a busy worker, or the queue is closed.
  bool try_push(std::function<void()> task);
  // Refuses new tasks; queued ones still run.
  void close();
  size_t waiting() const;
  bool busy() const;

 private:
  void work();
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool closed_ = false, busy_ = false;
  std::thread worker_;
};

}  // namespace ia::server
