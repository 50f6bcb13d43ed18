#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include "core/thread_pool.h"

namespace ia {
namespace {

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  for (int64_t n : {0, 1, 7, 1000, 100003}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    parallel_for(n, 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(ThreadPool, BalancedForCoversEveryIndexOnceInWholeUnits) {
  for (int threads : {1, 2, 3, 8}) {
    set_num_threads(threads);
    for (int64_t n : {0, 1, 7, 32, 33, 1000, 100003}) {
      for (int64_t unit : {1, 8, 32}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::mutex mu;
        std::vector<std::pair<int64_t, int64_t>> ranges;
        parallel_for_balanced(n, unit, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
          std::lock_guard<std::mutex> lock(mu);
          ranges.emplace_back(b, e);
        });
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "threads " << threads << " n " << n << " i " << i;
        // Each chunk starts on a unit boundary and is whole units, but for the one that ends at n.
        for (auto [b, e] : ranges) {
          EXPECT_LT(b, e);
          EXPECT_EQ(b % unit, 0) << "n " << n << " unit " << unit;
          if (e != n) {
            EXPECT_EQ(e % unit, 0) << "n " << n << " unit " << unit;
          }
        }
        // Guided: the first chunk taken is a thread's share, not the whole range (when there is a choice).
        if (threads > 1 && n / unit >= 4 * threads) {
          std::sort(ranges.begin(), ranges.end());
          EXPECT_LT(ranges.front().second, n) << "one chunk took everything";
        }
      }
    }
  }
  set_num_threads(0);
}

TEST(ThreadPool, TasksRunEachIndexOnce) {
  for (int threads : {1, 2, 5}) {
    set_num_threads(threads);
    for (int64_t n : {0, 1, 2, 13, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      parallel_tasks(n, [&](int64_t i) { hits[static_cast<size_t>(i)]++; });
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "threads " << threads << " n " << n << " i " << i;
    }
  }
  set_num_threads(0);
}

TEST(ThreadPool, ThreadCountIsSettable) {
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(0);
  EXPECT_EQ(num_threads(), default_num_threads());
  EXPECT_GE(default_num_threads(), 1);
}

}  // namespace
}  // namespace ia
