// `bench` end to end on the tiny fixtures: a run saved to a database, its JSON imported into
// another, queried, reported; `hardware --recommend` from those results; the server's load at
// given concurrencies; bad input refused.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"
#include "integration/serve_client.h"
#include "support/postgres_cluster.h"

namespace ia::test {
namespace {

const std::string kBert = std::string(IA_FIXTURES_DIR) + "/models/bert";
const std::string kLlama = std::string(IA_FIXTURES_DIR) + "/models/llama";

nlohmann::json parse_out(const CliResult& r) {
  EXPECT_EQ(r.status, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(CliBench, RunSaveImportQueryReport) {
  TempDir dir;
  const std::string db = dir.path() + "/bench.sqlite", other = dir.path() + "/other.sqlite";
  // A run with the ceilings, as JSON.
  const CliResult run = run_cli({"bench", "--model", kBert, "--device", "cpu", "-r", "2", "--warmup", "1", "--batch",
                                 "1,4", "--seq-len", "16", "--format", "json", "--db", db});
  const nlohmann::json doc = parse_out(run);
  EXPECT_EQ(doc["format"], "ipfs-accelerate-bench");
  ASSERT_EQ(doc["results"].size(), 2u);
  for (const auto& r : doc["results"]) {
    EXPECT_EQ(r["case"]["suite"], "embed");
    EXPECT_GT(r["measurement"]["ms"]["median"].get<double>(), 0);
    EXPECT_GT(r["measurement"]["of_gemm"].get<double>(), 0);
    EXPECT_LT(r["measurement"]["of_gemm"].get<double>(), 2);
    EXPECT_GT(r["ceilings"]["copy_bytes_per_s"].get<double>(), 0);
  }
  EXPECT_NE(run.err.find("saved 2 results to " + db), std::string::npos) << run.err;
  write_file(dir.path() + "/run.json", run.out);

  // Merged into another database once; a second import adds nothing.
  nlohmann::json imported = parse_out(run_cli({"bench", "import", dir.path() + "/run.json", "--db", other}));
  EXPECT_EQ(imported["imported"], 2);
  imported = parse_out(run_cli({"bench", "import", dir.path() + "/run.json", "--db", other}));
  EXPECT_EQ(imported["imported"], 0);
  EXPECT_EQ(imported["already_stored"], 2);

  const nlohmann::json queried =
      parse_out(run_cli({"bench", "query", "--db", other, "--model", "bert", "--device", "cpu", "--format", "json"}));
  ASSERT_EQ(queried["results"].size(), 2u);
  EXPECT_EQ(queried["results"][1]["case"]["batch"], 4);
  EXPECT_EQ(
      parse_out(run_cli({"bench", "query", "--db", other, "--suite", "decode", "--format", "json"}))["results"].size(),
      0u);
  const CliResult table = run_cli({"bench", "query", "--db", other, "--compare", "devices"});
  EXPECT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("| model | case | cpu on "), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("| embed b4 s16 |"), std::string::npos) << table.out;

  const CliResult report =
      run_cli({"bench", "report", "--db", other, "--format", "html", "--out", dir.path() + "/report.html"});
  EXPECT_EQ(report.status, 0) << report.err;
  const std::string html = read_file(dir.path() + "/report.html");
  EXPECT_NE(html.find("<svg class=\"chart throughput\""), std::string::npos);
  EXPECT_NE(html.find("<svg class=\"chart roofline\""), std::string::npos);
  const CliResult md = run_cli({"bench", "report", "--db", other, "--format", "md"});
  EXPECT_NE(md.out.find("# Benchmark report"), std::string::npos);
}

TEST(CliBench, TableAndCsv) {
  TempDir dir;
  const CliResult table = run_cli(
      {"bench", "--model", kBert, "--device", "cpu", "-r", "1", "-b", "2", "-s", "8", "--no-ceilings", "--no-save"});
  EXPECT_EQ(table.status, 0) << table.err;
  EXPECT_EQ(table.out.rfind("| model | params | dtype | device | case |", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("| embed b2 s8 |"), std::string::npos) << table.out;
  const CliResult csv = run_cli({"bench", "--model", kBert, "--device", "cpu", "-r", "1", "-b", "2", "-s", "8",
                                 "--no-ceilings", "--format", "csv", "--db", dir.path() + "/b.sqlite"});
  EXPECT_EQ(csv.status, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("run_id,started_at,", 0), 0u);
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 2);
}

TEST(CliBench, RecommendFromMeasurementsElseTheRule) {
  TempDir dir;
  const std::string db = dir.path() + "/bench.sqlite";
  nlohmann::json rule = parse_out(run_cli({"hardware", "--recommend", "--model", kBert, "--db", db}));
  EXPECT_EQ(rule["source"], "rule");
  EXPECT_EQ(rule["device"], "cpu");
  EXPECT_NE(rule["reason"].get<std::string>().find("no benchmark results"), std::string::npos) << rule;
  // Both dtypes measured on this machine's CPU: the faster one is recommended, with the numbers.
  for (const char* dtype : {"f32", "bf16"})
    ASSERT_EQ(run_cli({"bench", "--model", kBert, "--device", "cpu", "--dtype", dtype, "-r", "3", "-b", "4", "-s", "32",
                       "--no-ceilings", "--db", db})
                  .status,
              0);
  const nlohmann::json measured = parse_out(run_cli({"hardware", "--recommend", "--model", kBert, "--db", db}));
  EXPECT_EQ(measured["source"], "measurements") << measured;
  EXPECT_EQ(measured["device"], "cpu");
  ASSERT_EQ(measured["candidates"].size(), 2u);
  EXPECT_EQ(measured["dtype"], measured["candidates"][0]["dtype"]);
  EXPECT_DOUBLE_EQ(measured["candidates"][0]["relative_throughput"].get<double>(), 1.0);
  EXPECT_NE(measured["reason"].get<std::string>().find("is fastest"), std::string::npos) << measured;
}

// `serve` shows the same report at /dashboard, from $IPFS_ACCELERATE_HOME's database.
TEST(CliBench, ServeDashboard) {
  TempDir home;
  ASSERT_EQ(run_cli({"bench", "--model", kBert, "--device", "cpu", "-r", "1", "-b", "1,2", "-s", "8", "--no-ceilings",
                     "--db", home.path() + "/benchmarks.sqlite"})
                .status,
            0);
  ServeProcess server({"--model", kBert}, {{"IPFS_ACCELERATE_HOME", home.path()}});
  ASSERT_TRUE(server.ready()) << server.log();
  const HttpAnswer page = get(server, "/dashboard?model=bert");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<svg class=\"chart throughput\""), std::string::npos);
  EXPECT_NE(page.body.find("<polyline class=\"series\""), std::string::npos);
  const HttpAnswer none = get(server, "/dashboard?model=no-such-model");
  EXPECT_EQ(none.status, 200);
  EXPECT_NE(none.body.find("No results match"), std::string::npos);
  EXPECT_EQ(server.terminate(), 0);
}

// `serve --db PATH`: /dashboard reads the database named, not $IPFS_ACCELERATE_HOME's (empty here).
TEST(CliBench, ServeDashboardFromTheDatabaseNamed) {
  TempDir dir, home;
  const std::string db = dir.path() + "/elsewhere.sqlite";
  ASSERT_EQ(run_cli({"bench", "--model", kBert, "--device", "cpu", "-r", "1", "-b", "1", "-s", "8", "--no-ceilings",
                     "--db", db})
                .status,
            0);
  ServeProcess server({"--model", kBert, "--db", db}, {{"IPFS_ACCELERATE_HOME", home.path()}});
  ASSERT_TRUE(server.ready()) << server.log();
  const HttpAnswer page = get(server, "/dashboard?model=bert");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<svg class=\"chart throughput\""), std::string::npos);
  EXPECT_EQ(server.terminate(), 0);
  ServeProcess plain({"--model", kBert}, {{"IPFS_ACCELERATE_HOME", home.path()}});
  ASSERT_TRUE(plain.ready()) << plain.log();
  EXPECT_NE(get(plain, "/dashboard?model=bert").body.find("No results match"), std::string::npos);
  EXPECT_EQ(plain.terminate(), 0);
  expect_user_error(run_cli({"serve", "--model", kBert, "--db", dir.path() + "/missing.sqlite"}),
                    "no such results database");
}

// `--db postgresql://...`: a run saved, imported, queried and reported through a throwaway cluster
// (tests/support/postgres_cluster.h); the URL shown without its password; a server that is not
// there is one line (exit 2) without it either.
TEST(CliBench, PostgresDatabase) {
  const CliResult down = run_cli({"bench", "query", "--db", "postgresql://ia:s3cretpass@127.0.0.1:1/bench"});
  expect_user_error(down, "postgresql://ia:***@127.0.0.1:1/bench: cannot connect to the results database");
  EXPECT_EQ(down.err.find("s3cretpass"), std::string::npos) << down.err;
  std::string why;
  const PostgresCluster* cluster = shared_test_postgres(&why);
  if (!cluster) GTEST_SKIP() << "PostgreSQL: " << why;
  TempDir dir;
  const std::string url = cluster->url(), shown = "postgresql://" + cluster->user +
                                                  ":***@127.0.0.1:" + std::to_string(cluster->port) + "/postgres";
  const CliResult run = run_cli({"bench", "--model", kBert, "--device", "cpu", "-r", "1", "-b", "1,2", "-s", "8",
                                 "--no-ceilings", "--format", "json", "--db", url});
  const nlohmann::json doc = parse_out(run);
  ASSERT_EQ(doc["results"].size(), 2u);
  EXPECT_NE(run.err.find("saved 2 results to " + shown), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find(cluster->password), std::string::npos) << run.err;
  write_file(dir.path() + "/run.json", run.out);
  const nlohmann::json again = parse_out(run_cli({"bench", "import", dir.path() + "/run.json", "--db", url}));
  EXPECT_EQ(again["imported"], 0);
  EXPECT_EQ(again["already_stored"], 2);
  EXPECT_EQ(again["database"], shown);
  const nlohmann::json queried =
      parse_out(run_cli({"bench", "query", "--db", url, "--model", "BERT", "--format", "json"}));
  ASSERT_EQ(queried["results"].size(), 2u);
  EXPECT_EQ(queried["results"], doc["results"]);  // every field, as it went in
  const CliResult report =
      run_cli({"bench", "report", "--db", url, "--format", "html", "--out", dir.path() + "/report.html"});
  EXPECT_EQ(report.status, 0) << report.err;
  EXPECT_NE(read_file(dir.path() + "/report.html").find("<svg class=\"chart throughput\""), std::string::npos);
  const nlohmann::json advice = parse_out(run_cli({"hardware", "--recommend", "--model", kBert, "--db", url}));
  EXPECT_EQ(advice["database"], shown);
  // `serve --db URL`: its /dashboard reads the same results.
  ServeProcess server({"--model", kBert, "--db", url});
  ASSERT_TRUE(server.ready()) << server.log();
  const HttpAnswer page = get(server, "/dashboard?model=bert");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<polyline class=\"series\""), std::string::npos);
  EXPECT_EQ(server.terminate(), 0);
}

// `--suite server-load`: the server started in the process on the llama fixture, one row per
// concurrency level, stored, queried and reported like the other suites.
TEST(CliBench, ServerLoad) {
  TempDir dir;
  const std::string db = dir.path() + "/bench.sqlite";
  const CliResult run = run_cli({"bench",    "--model",  kLlama, "--suite",  "server-load", "--concurrency",
                                 "1,4",      "-s",       "8",    "-n",       "2",           "-r",
                                 "2",        "--warmup", "1",    "--device", "cpu",         "--no-ceilings",
                                 "--format", "json",     "--db", db});
  const nlohmann::json doc = parse_out(run);
  ASSERT_EQ(doc["results"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto& r = doc["results"][i];
    const int64_t concurrency = i == 0 ? 1 : 4;
    EXPECT_EQ(r["case"]["suite"], "server-load");
    EXPECT_EQ(r["case"]["batch"], concurrency);
    EXPECT_EQ(r["case"]["seq_len"], 8);
    EXPECT_EQ(r["case"]["new_tokens"], 2);
    const auto& m = r["measurement"];
    EXPECT_EQ(m["requests"], 2 * concurrency);
    EXPECT_EQ(m["errors"], 0) << m["error"];
    EXPECT_GT(m["ms"]["median"].get<double>(), 0);
    EXPECT_GT(m["throughput"].get<double>(), 0);
    EXPECT_GT(m["requests_per_s"].get<double>(), 0);
    EXPECT_EQ(m["ttft_ms"]["count"], 2 * concurrency);
    EXPECT_GT(m["ttft_ms"]["median"].get<double>(), 0);
    EXPECT_GT(m["itl_ms"]["count"].get<int>(), 0);
  }
  EXPECT_NE(run.err.find("saved 2 results to " + db), std::string::npos) << run.err;
  // Stored with every field, found by suite, shown with the request columns.
  const nlohmann::json queried =
      parse_out(run_cli({"bench", "query", "--db", db, "--suite", "server-load", "--format", "json"}));
  EXPECT_EQ(queried["results"], doc["results"]);
  const CliResult table = run_cli({"bench", "query", "--db", db});
  EXPECT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("| req/s | TTFT p50 ms | TTFT p90 ms | ITL p50 ms | ITL p90 ms | errors |"),
            std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("| server-load c4 p8 n2 |"), std::string::npos) << table.out;
  const CliResult md = run_cli({"bench", "report", "--db", db, "--format", "md"});
  EXPECT_NE(md.out.find("server-load c1 p8 n2"), std::string::npos) << md.out;
  const CliResult html = run_cli({"bench", "report", "--db", db, "--format", "html"});
  EXPECT_NE(html.out.find("throughput by concurrent requests"), std::string::npos);
  EXPECT_NE(html.out.find("<th>TTFT p50 ms</th>"), std::string::npos);
  // The suite is one of those `bench` lists.
  EXPECT_NE(run_cli({"bench", "--help"}).out.find("server-load"), std::string::npos);
}

// Requests the server refuses: the rows keep them as errors and say which; the run exits 1.
TEST(CliBench, ServerLoadErrorsFailTheRun) {
  // 250 + 6 tokens fit the fixture's 256 positions, but not once the chat template wraps the prompt.
  const CliResult run =
      run_cli({"bench", "--model", kLlama, "--suite", "server-load", "--concurrency", "2", "-s", "250", "-n", "6", "-r",
               "1", "--warmup", "0", "--device", "cpu", "--no-ceilings", "--no-save"});
  EXPECT_EQ(run.status, 1) << run.err;
  EXPECT_NE(run.out.find("| 2 of 2: HTTP 400"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("bench: server-load c2 p250 n6: 2 of 2 requests failed; the first: HTTP 400"),
            std::string::npos)
      << run.err;
}

TEST(CliBench, ServerLoadBadConcurrency) {
  expect_user_error(run_cli({"bench", "--model", kLlama, "--suite", "server-load", "--concurrency", "0", "--no-save",
                             "--no-ceilings"}),
                    "concurrency 0 is out of range (1 to 1024)");
  expect_user_error(run_cli({"bench", "--model", kLlama, "--suite", "server-load", "--concurrency", "x", "--no-save",
                             "--no-ceilings"}),
                    "--concurrency");
  expect_user_error(run_cli({"bench", "--model", kBert, "--concurrency", "2", "--no-save", "--no-ceilings"}),
                    "concurrency levels are for the suites that send requests (server-load), not embed");
  expect_user_error(
      run_cli({"bench", "--model", kLlama, "--suite", "server-load", "--batch", "2", "--no-save", "--no-ceilings"}),
      "takes concurrency levels, not batch sizes");
}

TEST(CliBench, BadInput) {
  TempDir dir;
  expect_user_error(run_cli({"bench"}), "--model");
  expect_user_error(run_cli({"bench", "--model", kBert, "--batch", "0", "--no-save", "--no-ceilings"}),
                    "batch 0 is out of range");
  expect_user_error(run_cli({"bench", "--model", kBert, "--suite", "decode", "--no-save", "--no-ceilings"}), "bert");
  write_file(dir.path() + "/bad.json", R"({"format": "ipfs-accelerate-bench", "version": 1, "results": [{}]})");
  expect_user_error(run_cli({"bench", "import", dir.path() + "/bad.json", "--db", dir.path() + "/b.sqlite"}),
                    "results[0].run_id is missing");
  expect_user_error(run_cli({"bench", "import", dir.path() + "/missing.json"}), "missing.json");
  write_file(dir.path() + "/notdb.sqlite", "this is not a database file at all, just text long enough");
  const CliResult notdb = run_cli({"bench", "query", "--db", dir.path() + "/notdb.sqlite"});
  EXPECT_EQ(notdb.status, 2) << notdb.err;
  expect_user_error(run_cli({"hardware", "--model", kBert}), "--recommend");
}

}  // namespace
}  // namespace ia::test
