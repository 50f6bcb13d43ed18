// `bench --suite server-load` on the tiny fixtures: the real server started in this process, each
// concurrency level one row with every field filled and plausible; what it cannot run refused.
#include "server/server_load_suite.h"

#include <gtest/gtest.h>

#include "benchmarks/bench_suite.h"
#include "core/error.h"

namespace ia::server {
namespace {

namespace bm = ia::benchmarks;

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";

bm::BenchRequest quick(const std::string& family) {
  register_server_load_suite();
  bm::BenchRequest r;
  r.model = kModels + family;
  r.suite = "server-load";
  r.device = "cpu";
  r.repetitions = 2;
  r.warmup = 1;
  r.concurrency = {1, 4};
  r.seq_lens = {8};
  r.measure_ceilings = false;
  return r;
}

// What every row of a level holds, whatever the model.
void expect_level(const bm::BenchResult& r, int64_t concurrency) {
  SCOPED_TRACE("concurrency " + std::to_string(concurrency));
  const bm::Measurement& m = r.measurement;
  EXPECT_EQ(r.params.suite, "server-load");
  EXPECT_EQ(r.params.batch, concurrency);
  EXPECT_EQ(r.params.seq_len, 8);
  EXPECT_EQ(r.params.device, "cpu");
  EXPECT_EQ(r.params.repetitions, 2);
  EXPECT_EQ(m.requests, concurrency * 2);  // each timed repetition: `concurrency` requests at once
  EXPECT_EQ(m.errors, 0) << m.error;
  EXPECT_EQ(m.error, "");
  EXPECT_EQ(m.ms.count, 2);
  EXPECT_GT(m.ms.min, 0);
  EXPECT_LE(m.ms.min, m.ms.median);
  EXPECT_LE(m.ms.median, m.ms.p90);
  EXPECT_LT(m.ms.p90, 60'000);
  EXPECT_GT(m.throughput, 0);
  EXPECT_NEAR(m.throughput, m.items_per_run / (m.ms.median / 1e3), m.throughput * 1e-9);
  EXPECT_GT(m.requests_per_s, 0);
  EXPECT_NEAR(m.requests_per_s, static_cast<double>(concurrency) / (m.ms.median / 1e3), m.requests_per_s * 1e-9);
  // One time to first token per request, each within its repetition.
  EXPECT_EQ(m.ttft_ms.count, concurrency * 2);
  EXPECT_GT(m.ttft_ms.min, 0);
  EXPECT_LE(m.ttft_ms.median, m.ttft_ms.p90);
  EXPECT_LE(m.ttft_ms.max, m.ms.max);
  EXPECT_EQ(m.of_gemm, 0);  // no FLOP model for a server's requests
}

TEST(ServerLoadSuite, StreamedChatAtEachConcurrency) {
  bm::BenchRequest req = quick("llama");
  req.new_tokens = {3};
  const auto rows = bm::run_benchmarks(req);
  ASSERT_EQ(rows.size(), 2u);  // one row per level
  for (size_t i = 0; i < rows.size(); ++i) {
    const bm::BenchResult& r = rows[i];
    expect_level(r, i == 0 ? 1 : 4);
    EXPECT_EQ(r.params.new_tokens, 3);
    EXPECT_EQ(r.model.family, "llama");
    EXPECT_EQ(r.measurement.unit, "tokens");
    EXPECT_EQ(r.measurement.items_per_run, static_cast<double>(r.params.batch * 3));  // output tokens
    // 3 tokens a request: up to 2 gaps between its chunks of text (fewer where a chunk holds two).
    EXPECT_GT(r.measurement.itl_ms.count, 0);
    EXPECT_LE(r.measurement.itl_ms.count, r.measurement.requests * 2);
    EXPECT_GT(r.measurement.itl_ms.min, 0);
  }
  EXPECT_EQ(rows[0].run_id, rows[1].run_id);
}

TEST(ServerLoadSuite, EmbeddingsAtEachConcurrency) {
  const auto rows = bm::run_benchmarks(quick("bert"));
  ASSERT_EQ(rows.size(), 2u);
  for (size_t i = 0; i < rows.size(); ++i) {
    const bm::BenchResult& r = rows[i];
    expect_level(r, i == 0 ? 1 : 4);
    EXPECT_EQ(r.params.new_tokens, 0);
    EXPECT_EQ(r.measurement.unit, "sequences");
    EXPECT_EQ(r.measurement.items_per_run, static_cast<double>(r.params.batch));
    EXPECT_EQ(r.measurement.itl_ms.count, 0);  // an answer, not a stream
  }
}

// A request the server refuses is an error of the row, with its message; the row is still there.
TEST(ServerLoadSuite, FailedRequestsAreTheRowsErrors) {
  bm::BenchRequest req = quick("llama");
  req.concurrency = {2};
  req.warmup = 0;
  // 250 + 6 fit the fixture's 256 positions, but not once the chat template wraps the prompt.
  req.seq_lens = {250};
  req.new_tokens = {6};
  const auto rows = bm::run_benchmarks(req);
  ASSERT_EQ(rows.size(), 1u);
  const bm::Measurement& m = rows[0].measurement;
  EXPECT_EQ(m.requests, 4);
  EXPECT_EQ(m.errors, 4);
  EXPECT_NE(m.error.find("HTTP 400"), std::string::npos) << m.error;
  EXPECT_EQ(m.ttft_ms.count, 0);
  EXPECT_EQ(m.throughput, 0);
  EXPECT_EQ(m.requests_per_s, 0);
}

TEST(ServerLoadSuite, RefusesWhatItCannotRun) {
  auto refused = [](const bm::BenchRequest& r, const std::string& needle) {
    try {
      bm::run_benchmarks(r);
      ADD_FAILURE() << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  bm::BenchRequest r = quick("llama");
  r.concurrency = {0};
  refused(r, "concurrency 0 is out of range (1 to 1024)");
  r = quick("llama");
  r.batches = {2};
  refused(r, "the server-load suite takes concurrency levels, not batch sizes");
  r = quick("bert");
  r.suite = "embed";
  refused(r, "concurrency levels are for the suites that send requests (server-load), not embed");
  r = quick("bert");
  r.new_tokens = {4};
  refused(r, "is an embedding model: its requests generate no tokens");
  r = quick("llama");
  r.seq_lens = {300};
  r.new_tokens = {4};
  refused(r, "300 prompt + 4 new tokens do not fit the model's 256 tokens");
  refused(quick("vit"), "the server-load suite sends chat, completion or embedding requests");
}

}  // namespace
}  // namespace ia::server
