#include "server/bounded_work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace ia::server {
namespace {

TEST(BoundedWorkQueue, CountsOnlyWhatWaitsBehindTheRunningTask) {
  BoundedWorkQueue q(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  std::atomic<bool> started{false};
  ASSERT_TRUE(q.try_push([&] {
    started = true;
    released.wait();
    ++ran;
  }));
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(q.try_push([&] { ++ran; }));   // one may wait
  EXPECT_FALSE(q.try_push([&] { ++ran; }));  // a second may not
  EXPECT_EQ(q.waiting(), 1u);
  EXPECT_TRUE(q.busy());
  release.set_value();
  q.close();
  EXPECT_FALSE(q.try_push([&] { ++ran; }));
  while (ran < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(ran, 2);
}

TEST(BoundedWorkQueue, ZeroCapacityStillRunsOneAtATime) {
  BoundedWorkQueue q(0);
  std::atomic<int> ran{0};
  EXPECT_TRUE(q.try_push([&] { ++ran; }));
  while (ran < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  while (q.busy()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(q.try_push([&] { ++ran; }));
}

}  // namespace
}  // namespace ia::server
