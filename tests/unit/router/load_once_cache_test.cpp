// LoadOnceCache with loads the test holds open: the order of events is
// forced by promises, so each assertion is about what the cache lets happen.
#include "router/load_once_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

namespace ia::router {
namespace {

using namespace std::chrono_literals;
using Cache = LoadOnceCache<std::string, std::string>;

TEST(LoadOnceCache, ASlowLoadDoesNotBlockAnotherKey) {
  Cache cache;
  std::promise<void> release_a, a_loading;
  auto a = std::async(std::launch::async, [&] {
    return cache.get("a", [&] {
      a_loading.set_value();
      release_a.get_future().wait();
      return std::make_shared<std::string>("A");
    });
  });
  a_loading.get_future().wait();  // a's load is running now
  // b loads and returns while a's load is still held open.
  EXPECT_EQ(*cache.get("b", [] { return std::make_shared<std::string>("B"); }), "B");
  EXPECT_EQ(a.wait_for(0s), std::future_status::timeout);
  release_a.set_value();
  EXPECT_EQ(*a.get(), "A");
  EXPECT_EQ(cache.size(), 2u);
}

TEST(LoadOnceCache, TwoCallersOfOneKeyShareOneLoad) {
  Cache cache;
  std::atomic<int> loads{0};
  std::promise<void> release, loading;
  auto load = [&] {
    ++loads;
    loading.set_value();  // a second load would throw here (promise already satisfied)
    release.get_future().wait();
    return std::make_shared<std::string>("M");
  };
  auto first = std::async(std::launch::async, [&] { return cache.get("m", load); });
  loading.get_future().wait();
  auto second = std::async(std::launch::async, [&] { return cache.get("m", load); });
  // The second caller waits for the first's load rather than loading or returning.
  EXPECT_EQ(second.wait_for(100ms), std::future_status::timeout);
  release.set_value();
  auto p1 = first.get(), p2 = second.get();
  EXPECT_EQ(p1, p2);  // the same object
  EXPECT_EQ(*p1, "M");
  EXPECT_EQ(loads.load(), 1);
  EXPECT_EQ(cache.get("m", load), p1);  // and later calls get it without loading
  EXPECT_EQ(loads.load(), 1);
}

TEST(LoadOnceCache, AFailedLoadIsNotCached) {
  Cache cache;
  int loads = 0;
  EXPECT_THROW(cache.get("m",
                         [&]() -> std::shared_ptr<std::string> {
                           ++loads;
                           throw std::runtime_error("disk went away");
                         }),
               std::runtime_error);
  EXPECT_EQ(cache.size(), 0u);
  auto p = cache.get("m", [&] {
    ++loads;
    return std::make_shared<std::string>("M");
  });
  EXPECT_EQ(*p, "M");
  EXPECT_EQ(loads, 2);
}

TEST(LoadOnceCache, AWaiterOnAFailingLoadGetsItsErrorAndTheNextCallRetries) {
  Cache cache;
  std::promise<void> release, loading;
  auto first = std::async(std::launch::async, [&] {
    return cache.get("m", [&]() -> std::shared_ptr<std::string> {
      loading.set_value();
      release.get_future().wait();
      throw std::runtime_error("corrupt weights");
    });
  });
  loading.get_future().wait();
  std::atomic<bool> waiter_loaded{false};
  auto waiter = std::async(std::launch::async, [&] {
    return cache.get("m", [&] {
      waiter_loaded = true;
      return std::make_shared<std::string>("late");
    });
  });
  EXPECT_EQ(waiter.wait_for(100ms), std::future_status::timeout);
  release.set_value();
  EXPECT_THROW(first.get(), std::runtime_error);
  // The waiter either shared the failed load (same error) or, arriving after it was
  // forgotten, loaded again; it never got a half-made value.
  try {
    EXPECT_EQ(*waiter.get(), "late");
    EXPECT_TRUE(waiter_loaded.load());
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "corrupt weights");
    EXPECT_FALSE(waiter_loaded.load());
  }
  // The failure was forgotten: the next call loads (unless the waiter's own load already did).
  EXPECT_EQ(*cache.get("m", [] { return std::make_shared<std::string>("ok"); }), waiter_loaded.load() ? "late" : "ok");
}

}  // namespace
}  // namespace ia::router
