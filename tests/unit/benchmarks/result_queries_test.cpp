// Queries on seeded results: the latest of repeated runs, devices compared, commits compared.
#include "benchmarks/result_queries.h"

#include <gtest/gtest.h>

#include "seed_results.h"

namespace ia::benchmarks {
namespace {

using test::Seed;
using test::seeded;

TEST(ResultQueries, LatestOfRepeatedRuns) {
  Seed old_run, new_run;
  old_run.median_ms = 20;
  new_run.run = "run-2";
  new_run.started = "2026-12-02T10:00:00Z";
  new_run.median_ms = 10;
  const auto latest = latest_results({seeded(new_run), seeded(old_run)});
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].run_id, "run-2");
}

TEST(ResultQueries, ComparesDevicesForOneModel) {
  Seed cpu1, cpu8, gpu1, gpu8;
  cpu1.batch = 1;
  cpu1.median_ms = 2;  // 500 seq/s
  cpu8.median_ms = 8;  // 1000 seq/s
  gpu1.batch = 1;
  gpu1.device = gpu8.device = "cuda:0";
  gpu1.gpu = gpu8.gpu = "NVIDIA H100";
  gpu1.run = gpu8.run = "run-gpu";
  gpu1.median_ms = 1;  // 1000 seq/s
  gpu8.median_ms = 1;  // 8000 seq/s
  const auto rows = compare_devices({seeded(cpu1), seeded(cpu8), seeded(gpu1), seeded(gpu8)});
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].devices.size(), 2u);
  EXPECT_EQ(rows[0].devices[0], "cpu on Test CPU 9000");
  EXPECT_EQ(rows[0].devices[1], "cuda:0 on NVIDIA H100");
  EXPECT_EQ(rows[0].case_label, "embed b1 s64");
  EXPECT_NEAR(*rows[0].throughput[0], 500, 1e-6);
  EXPECT_NEAR(*rows[0].throughput[1], 1000, 1e-6);
  EXPECT_NEAR(*rows[1].throughput[1], 8000, 1e-6);
}

TEST(ResultQueries, FindsRegressionsBetweenCommits) {
  Seed base_a, base_b, head_a, head_b, head_only;
  base_a.median_ms = 10;
  base_b.batch = 1;
  base_b.median_ms = 10;
  head_a.commit = head_b.commit = head_only.commit = "bbbbbbbb22222222";
  head_a.run = head_b.run = head_only.run = "run-head";
  head_a.median_ms = 12;  // 20% slower: a regression at a 5% threshold
  head_b.batch = 1;
  head_b.median_ms = 10.3;  // 3% slower: within it
  head_only.batch = 64;     // not measured at the base: not compared
  const std::vector<BenchResult> all{seeded(base_a), seeded(base_b), seeded(head_a), seeded(head_b), seeded(head_only)};
  const auto rows = compare_commits(all, "aaaa", "bbbb", 0.05);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].case_label, "embed b8 s64");  // worst first
  EXPECT_NEAR(rows[0].change, 0.2, 1e-9);
  EXPECT_TRUE(rows[0].regression);
  EXPECT_NEAR(rows[1].change, 0.03, 1e-9);
  EXPECT_FALSE(rows[1].regression);
  EXPECT_FALSE(compare_commits(all, "aaaa", "bbbb", 0.25)[0].regression);
  EXPECT_TRUE(compare_commits(all, "aaaa", "cccc", 0.05).empty());
}

}  // namespace
}  // namespace ia::benchmarks
