// Placement from seeded results: the faster device (and dtype) wins, similar models count when
// the model itself was not measured, and without a comparison the rule decides.
#include "benchmarks/placement_advice.h"

#include <gtest/gtest.h>

#include "benchmarks/results_store.h"
#include "seed_results.h"

namespace ia::benchmarks {
namespace {

using test::Seed;
using test::seeded;

PlacementTarget target(const std::string& name, int64_t params = 4'000'000) {
  PlacementTarget t;
  t.name = name;
  t.path = "/models/" + name;
  t.family = "bert";
  t.parameters = params;
  return t;
}

std::vector<BenchResult> cpu_and_gpu(double cpu_ms, double gpu_ms, const std::string& model = "bert-tiny") {
  std::vector<BenchResult> rs;
  for (int64_t b : {1, 8}) {
    Seed cpu, gpu;
    cpu.model = gpu.model = model;
    cpu.batch = gpu.batch = b;
    cpu.median_ms = cpu_ms;
    gpu.median_ms = gpu_ms;
    gpu.device = "cuda:0";
    gpu.gpu = "NVIDIA H100";
    gpu.run = "run-gpu";
    rs.push_back(seeded(cpu));
    rs.push_back(seeded(gpu));
  }
  return rs;
}

TEST(PlacementAdvice, PicksTheFasterDevice) {
  const std::vector<std::string> usable{"cpu", "cuda:0"};
  PlacementAdvice gpu_wins = advise_placement(cpu_and_gpu(10, 2), target("bert-tiny"), usable);
  ASSERT_TRUE(gpu_wins.device);
  EXPECT_EQ(*gpu_wins.device, "cuda:0");
  EXPECT_EQ(gpu_wins.evidence, "this model");
  ASSERT_EQ(gpu_wins.candidates.size(), 2u);
  EXPECT_NEAR(gpu_wins.candidates[1].relative, 0.2, 1e-9);  // the CPU at a fifth of the speed
  EXPECT_EQ(gpu_wins.candidates[1].cases, 2u);
  EXPECT_NE(gpu_wins.reason.find("cuda:0 f32 is fastest"), std::string::npos) << gpu_wins.reason;
  EXPECT_NE(gpu_wins.reason.find("cpu f32 at 0.20x"), std::string::npos) << gpu_wins.reason;
  // A tiny model where the launch overheads make the CPU faster.
  PlacementAdvice cpu_wins = advise_placement(cpu_and_gpu(1, 3), target("bert-tiny"), usable);
  ASSERT_TRUE(cpu_wins.device);
  EXPECT_EQ(*cpu_wins.device, "cpu");
}

// A server's load with failed requests measured something else: the other device's rows decide.
TEST(PlacementAdvice, RowsWithFailedRequestsAreNoEvidence) {
  std::vector<BenchResult> rs = cpu_and_gpu(10, 2);
  for (BenchResult& r : rs)
    if (r.params.device == "cuda:0") r.measurement.errors = 1, r.measurement.requests = 8;
  const PlacementAdvice a = advise_placement(rs, target("bert-tiny"), {"cpu", "cuda:0"});
  ASSERT_EQ(a.candidates.size(), 1u);
  EXPECT_EQ(a.candidates[0].device, "cpu");
  EXPECT_FALSE(a.device);  // one candidate: nothing compared, the rule decides
}

TEST(PlacementAdvice, SimilarModelsOfTheFamilyCountWhenTheModelWasNotMeasured) {
  const std::vector<std::string> usable{"cpu", "cuda:0"};
  const auto rs = cpu_and_gpu(10, 2, "bert-other");
  PlacementAdvice similar = advise_placement(rs, target("bert-new", 6'000'000), usable);
  ASSERT_TRUE(similar.device);
  EXPECT_EQ(*similar.device, "cuda:0");
  EXPECT_EQ(similar.evidence, "bert models of similar size");
  // Ten times the parameters is not similar: the rule decides.
  EXPECT_FALSE(advise_placement(rs, target("bert-huge", 40'000'000), usable).device);
}

TEST(PlacementAdvice, FallsBackToTheRuleWithoutAComparison) {
  // No GPU usable now: the GPU's results do not count, and one device leaves nothing to compare.
  PlacementAdvice no_gpu = advise_placement(cpu_and_gpu(10, 2), target("bert-tiny"), {"cpu"});
  EXPECT_FALSE(no_gpu.device);
  EXPECT_NE(no_gpu.reason.find("nothing to compare"), std::string::npos) << no_gpu.reason;
  PlacementAdvice none = advise_placement({}, target("bert-tiny"), {"cpu", "cuda:0"});
  EXPECT_FALSE(none.device);
  EXPECT_NE(none.reason.find("no benchmark results"), std::string::npos) << none.reason;
}

TEST(PlacementAdvice, RecommendsTheFasterDtypeWhenItIsOpen) {
  std::vector<BenchResult> rs;
  Seed f32, bf16;
  f32.median_ms = 10;
  bf16.dtype = "bf16";
  bf16.run = "run-bf16";
  bf16.median_ms = 4;
  rs = {seeded(f32), seeded(bf16)};
  PlacementAdvice open = advise_placement(rs, target("bert-tiny"), {"cpu"});
  ASSERT_TRUE(open.dtype);
  EXPECT_EQ(*open.device, "cpu");
  EXPECT_EQ(*open.dtype, "bf16");
  PlacementTarget fixed = target("bert-tiny");
  fixed.dtype = "f32";
  EXPECT_FALSE(advise_placement(rs, fixed, {"cpu"}).device);
}

}  // namespace
}  // namespace ia::benchmarks
