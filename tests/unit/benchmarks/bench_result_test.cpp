// Sample statistics, and results as JSON and CSV: written, read back, and refused when malformed.
#include "benchmarks/bench_result.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "seed_results.h"

namespace ia::benchmarks {
namespace {

TEST(SampleStats, MinMedianP90) {
  const SampleStats s = sample_stats({5, 1, 4, 2, 3, 10, 6, 7, 8, 9});
  EXPECT_EQ(s.count, 10);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.median, 5.5);
  EXPECT_DOUBLE_EQ(s.p90, 9);  // 9 of 10 samples are at or below it
  EXPECT_DOUBLE_EQ(s.max, 10);
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  const SampleStats odd = sample_stats({3, 1, 2});
  EXPECT_DOUBLE_EQ(odd.median, 2);
  EXPECT_DOUBLE_EQ(odd.p90, 3);
  EXPECT_EQ(sample_stats({}).count, 0);
}

TEST(ResultsJson, RoundTrip) {
  test::Seed s;
  s.gpu = "NVIDIA H100";
  s.device = "cuda:0";
  const BenchResult r = test::seeded(s);
  const std::string text = results_document({r, r}).dump();
  const std::vector<BenchResult> back = parse_results_document(text, "x.json");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(result_json(back[0]).dump(), result_json(r).dump());
  // A server's load, its request fields and spreads included.
  const BenchResult load = test::with_requests(r);
  EXPECT_EQ(result_json(parse_results_document(results_document({load}).dump(), "x.json")[0]).dump(),
            result_json(load).dump());
}

// A file written before the request fields existed has none: they read as zero.
TEST(ResultsJson, ReadsFilesWithoutTheRequestFields) {
  nlohmann::ordered_json doc = results_document({test::seeded({})});
  for (const char* key : {"requests", "errors", "error", "requests_per_s", "ttft_ms", "itl_ms"})
    doc["results"][0]["measurement"].erase(key);
  const std::vector<BenchResult> back = parse_results_document(doc.dump(), "old.json");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].measurement.requests, 0);
  EXPECT_EQ(back[0].measurement.ttft_ms.count, 0);
  EXPECT_EQ(result_json(back[0]).dump(), result_json(test::seeded({})).dump());
}

TEST(ResultsJson, RefusesMalformedDocuments) {
  const BenchResult r = test::seeded({});
  auto refused = [](const std::string& text, const std::string& needle) {
    try {
      parse_results_document(text, "in.json");
      ADD_FAILURE() << "accepted: " << text.substr(0, 200);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused("[1, 2]", "not a results document");
  refused("not json", "in.json");
  refused(R"({"format": "other", "version": 1, "results": []})", "format");
  refused(R"({"format": "ipfs-accelerate-bench", "version": 2, "results": []})", "version");
  auto with = [&](const std::function<void(nlohmann::ordered_json&)>& edit) {
    nlohmann::ordered_json doc = results_document({r});
    edit(doc["results"][0]);
    return doc.dump();
  };
  refused(with([](auto& j) { j.erase("machine"); }), "results[0].machine is missing");
  refused(with([](auto& j) { j["case"]["batch"] = -1; }), "results[0].case.batch");
  refused(with([](auto& j) { j["case"]["batch"] = 1.5; }), "results[0].case.batch");
  refused(with([](auto& j) { j["measurement"]["ms"]["median"] = 100; }), "min <= median <= p90");
  refused(with([](auto& j) { j["model"]["name"] = std::string(5000, 'x'); }), "longer than");
  refused(with([](auto& j) { j["model"]["dtype"] = 3; }), "not a string");
  refused(with([](auto& j) { j["measurement"]["errors"] = 1; }),
          "results[0].measurement.errors is more than the requests");
  refused(with([](auto& j) { j["measurement"]["ttft_ms"]["median"] = 2; }), "ttft_ms.median is not 0 with no samples");
  refused(with([](auto& j) {
            j["measurement"]["itl_ms"] = {{"count", 2}, {"min", 3}, {"median", 2}, {"p90", 4}};
          }),
          "itl_ms does not have min <= median <= p90");
  // Deeper than any results document nests.
  refused(R"({"format": [[[[[[[[[[[]]]]]]]]]]]})", "in.json");
}

TEST(ResultsCsv, HeaderAndOneLinePerResult) {
  test::Seed s;
  s.model = "a,\"quoted\" model";
  const std::string csv = results_csv({test::seeded(s), test::seeded({})});
  const std::string header = csv.substr(0, csv.find('\n'));
  EXPECT_NE(header.find("run_id,started_at,machine.cpu_model"), std::string::npos);
  EXPECT_NE(header.find("measurement.ms.median"), std::string::npos);
  EXPECT_NE(csv.find("\"a,\"\"quoted\"\" model\""), std::string::npos);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
}

}  // namespace
}  // namespace ia::benchmarks
