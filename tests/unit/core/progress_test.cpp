// core/progress.h: what a reporter hears of a task, and that nothing is heard without one.
#include "core/progress.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ia {
namespace {

struct RecordingReporter : ProgressReporter {
  std::vector<std::string> events;
  std::atomic<int> updates{0};
  void on_start(const ProgressTask& t) override {
    events.push_back("start " + t.label() + " " + std::to_string(t.done()) + "/" + std::to_string(t.total()));
  }
  void on_update(const ProgressTask&) override { ++updates; }
  void on_end(const ProgressTask& t, bool completed) override {
    events.push_back(std::string(completed ? "done " : "abandoned ") + t.label() + " " + std::to_string(t.done()));
  }
};

class Progress : public ::testing::Test {
 protected:
  void SetUp() override { set_progress_reporter(reporter_); }
  void TearDown() override { set_progress_reporter(nullptr); }
  std::shared_ptr<RecordingReporter> reporter_ = std::make_shared<RecordingReporter>();
};

TEST_F(Progress, StartAdvanceFinish) {
  ProgressTask task("adding x", 100, ProgressUnit::Bytes, 10);
  EXPECT_EQ(task.done_before(), 10u);
  task.advance(40);
  task.set_total(120);
  task.finish();
  task.finish();  // once only
  EXPECT_EQ(task.done(), 50u);
  EXPECT_EQ(task.total(), 120u);
  EXPECT_EQ(reporter_->events, (std::vector<std::string>{"start adding x 10/100", "done adding x 50"}));
}

TEST_F(Progress, ATaskLeftUnfinishedIsAbandoned) {
  try {
    ProgressTask task("fetching y", 0, ProgressUnit::Blocks);
    task.advance(3);
    throw std::runtime_error("gateway gone");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(reporter_->events, (std::vector<std::string>{"start fetching y 0/0", "abandoned fetching y 3"}));
}

TEST_F(Progress, UpdatesAreRateLimitedAcrossThreads) {
  ProgressTask task("verifying blocks", 0, ProgressUnit::Blocks);
  const auto t0 = ProgressTask::Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      while (ProgressTask::Clock::now() - t0 < std::chrono::milliseconds(350)) task.advance(1);
    });
  for (auto& t : threads) t.join();
  task.finish();
  // Millions of advances in 350 ms: at most one update per 100 ms after the first 100 ms.
  EXPECT_GE(reporter_->updates.load(), 1);
  EXPECT_LE(reporter_->updates.load(), 3);
  EXPECT_GT(task.done(), 1000u);
}

TEST(ProgressWithoutReporter, ReportsNothingAndCounts) {
  set_progress_reporter(nullptr);
  ProgressTask task("loading z", 8, ProgressUnit::Bytes);
  task.advance(8);
  EXPECT_EQ(task.done(), 8u);
  task.finish();
}

}  // namespace
}  // namespace ia
