// The results store on both engines: the same tests (round trips, duplicates, filters, failed
// imports, migrating an old database, refusing foreign ones, the queries over what comes back)
// run against a SQLite file and against a PostgreSQL database in a throwaway cluster
// (tests/support/postgres_cluster.h), which they skip, with the reason, where none can start.
#include "benchmarks/results_store.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "benchmarks/result_queries.h"
#include "benchmarks/results_schema.h"
#include "benchmarks/sql_connection.h"
#include "core/error.h"
#include "seed_results.h"
#include "support/postgres_cluster.h"

namespace ia::benchmarks {

// ctest lists each test with its parameter: "SQLite" rather than its bytes.
void PrintTo(SqlDialect d, std::ostream* os) {
  *os << (d == SqlDialect::Sqlite ? "SQLite" : "PostgreSQL");
}

namespace {

using test::Seed;
using test::seeded;

ResultFilter by(std::string ResultFilter::*field, const std::string& value) {
  ResultFilter f;
  f.*field = value;
  return f;
}

// Where each test's databases live: new files in a temp folder, or new databases in the cluster.
class ResultsStore : public testing::TestWithParam<SqlDialect> {
 protected:
  void SetUp() override {
    if (GetParam() == SqlDialect::Postgres) {
      std::string why;
      cluster_ = ia::test::shared_test_postgres(&why);
      if (!cluster_) GTEST_SKIP() << "PostgreSQL: " << why;
    }
  }

  // A location no test has used: a file name, or a database created for it.
  std::string fresh(const std::string& name = "bench") {
    if (GetParam() == SqlDialect::Sqlite) return dir_.file(name + ".sqlite");
    static std::atomic<int> n{0};
    const std::string db = "ia_test_" + std::to_string(getpid()) + "_" + std::to_string(n++);
    open_sql_connection(cluster_->url())->exec_script("CREATE DATABASE " + db);
    return cluster_->url(db);
  }

  const ia::test::PostgresCluster* cluster_ = nullptr;
  test::TempDir dir_;
};

std::string param_name(const testing::TestParamInfo<SqlDialect>& info) {
  return info.param == SqlDialect::Sqlite ? "SQLite" : "PostgreSQL";
}

INSTANTIATE_TEST_SUITE_P(Backends, ResultsStore, testing::Values(SqlDialect::Sqlite, SqlDialect::Postgres), param_name);

TEST_P(ResultsStore, StoresAndReadsBackEveryField) {
  const std::string where = GetParam() == SqlDialect::Sqlite ? dir_.file("sub/bench.sqlite") : fresh();
  auto store = open_results_store(where);  // a SQLite file's folder is created
  EXPECT_EQ(store->schema_version(), current_results_schema_version());
  Seed gpu;
  gpu.device = "cuda:0";
  gpu.gpu = "NVIDIA H100";
  gpu.run = "run-2";
  std::vector<BenchResult> in{seeded({}), seeded(gpu)};
  // Doubles that a printed-and-parsed round trip would change if it kept fewer digits.
  in[1].measurement.ms.median = 0.1 + 0.2;
  in[1].measurement.throughput = 1.0 / 3.0;
  in[1].measurement.flops_per_run = 1.2345678901234567e300;
  in[1].ceilings.copy_bytes_per_s = 5e-324;
  in[1].machine.memory_bytes = uint64_t{1} << 62;  // past 32 bits
  in[1].model.name = "unicodé ✓ 'quoted' \"too\" ; DROP TABLE results; --";
  in[1] = test::with_requests(in[1]);  // and a server's load: requests, errors and latency spreads
  EXPECT_EQ(store->insert(in), 2u);
  EXPECT_EQ(store->insert(in), 0u);  // already stored: skipped
  const std::vector<BenchResult> out = store->select({});
  ASSERT_EQ(out.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(result_json(out[i]).dump(), result_json(in[i]).dump());
  // Another process opening the same database sees them.
  EXPECT_EQ(open_results_store(where)->select({}).size(), 2u);
}

TEST_P(ResultsStore, Filters) {
  auto store = open_results_store(fresh());
  Seed a, b, c;
  b.model = "llama-tiny";
  b.family = "llama";
  b.suite = "decode";
  b.dtype = "bf16";
  b.run = "run-b";
  b.commit = "bbbbbbbb22222222";
  c.device = "cuda:1";
  c.gpu = "NVIDIA H200";
  c.run = "run-c";
  c.batch = 32;
  store->insert({seeded(a), seeded(b), seeded(c)});
  auto count = [&](ResultFilter f) { return store->select(f).size(); };
  EXPECT_EQ(count({}), 3u);
  EXPECT_EQ(count(by(&ResultFilter::model, "llama")), 1u);
  EXPECT_EQ(count(by(&ResultFilter::model, "/models/bert")), 2u);  // a part of the folder
  EXPECT_EQ(count(by(&ResultFilter::model, "BERT")), 2u);          // whatever the case, on both engines
  EXPECT_EQ(count(by(&ResultFilter::family, "bert")), 2u);
  EXPECT_EQ(count(by(&ResultFilter::suite, "decode")), 1u);
  EXPECT_EQ(count(by(&ResultFilter::device, "cuda")), 1u);  // any GPU
  EXPECT_EQ(count(by(&ResultFilter::device, "cpu")), 2u);
  EXPECT_EQ(count(by(&ResultFilter::dtype, "bf16")), 1u);
  EXPECT_EQ(count(by(&ResultFilter::commit, "bbbb")), 1u);
  EXPECT_EQ(count(by(&ResultFilter::machine, "H200")), 1u);
  EXPECT_EQ(count(by(&ResultFilter::machine, "Test CPU")), 3u);
  EXPECT_EQ(count(by(&ResultFilter::run_id, "run-c")), 1u);
  EXPECT_EQ(count(by(&ResultFilter::model, "%")), 0u);  // a wildcard is a character
  EXPECT_EQ(count(by(&ResultFilter::model, "_")), 0u);
  EXPECT_EQ(count(by(&ResultFilter::model, "x' OR '1'='1")), 0u);  // a value, never SQL
  ResultFilter newest_one;
  newest_one.limit = 1;
  const auto newest = store->select(newest_one);
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].run_id, "run-c");
}

// The queries (result_queries.h) over what each engine gives back.
TEST_P(ResultsStore, QueriesRunOnStoredResults) {
  auto store = open_results_store(fresh());
  Seed base, head, gpu, older;
  base.median_ms = 10;
  head.commit = "bbbbbbbb22222222";
  head.run = "run-head";
  head.started = "2026-12-02T10:00:00Z";
  head.median_ms = 12;  // 20% slower
  gpu.device = "cuda:0";
  gpu.gpu = "NVIDIA H100";
  gpu.run = "run-gpu";
  gpu.median_ms = 1;
  older.run = "run-0";
  older.started = "2026-11-01T10:00:00Z";
  older.median_ms = 50;
  store->insert({seeded(base), seeded(head), seeded(gpu), seeded(older)});
  const auto all = store->select({});
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(latest_results(all).size(), 2u);  // cpu (run-head) and the GPU
  const auto devices = compare_devices(all);
  ASSERT_EQ(devices.size(), 1u);
  ASSERT_EQ(devices[0].devices.size(), 2u);
  EXPECT_NEAR(*devices[0].throughput[0], 8 / 0.012, 1e-6);
  EXPECT_NEAR(*devices[0].throughput[1], 8 / 0.001, 1e-6);
  const auto commits = compare_commits(store->select(by(&ResultFilter::device, "cpu")), "aaaa", "bbbb", 0.05);
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_NEAR(commits[0].change, 0.2, 1e-9);
  EXPECT_TRUE(commits[0].regression);
}

TEST_P(ResultsStore, AFailedInsertLeavesNothing) {
  auto store = open_results_store(fresh());
  Seed other_machine;
  other_machine.gpu = "another GPU";  // the same run id from another machine is refused
  EXPECT_THROW(store->insert({seeded({}), seeded(other_machine)}), Error);
  EXPECT_EQ(store->select({}).size(), 0u);
  // The store is still usable after the rollback.
  EXPECT_EQ(store->insert({seeded({})}), 1u);
}

// A multi-row import is one transaction, and two writers importing the same results at once store
// each result once.
TEST_P(ResultsStore, ConcurrentImportsStoreEachResultOnce) {
  const std::string where = fresh();
  open_results_store(where);  // created before the writers race
  std::vector<BenchResult> results;
  for (int i = 0; i < 200; ++i) {
    Seed s;
    s.batch = 1 + i;
    s.model = "model-" + std::to_string(i % 5);
    results.push_back(seeded(s));
  }
  std::atomic<size_t> added{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) writers.emplace_back([&] { added += open_results_store(where)->insert(results); });
  for (auto& t : writers) t.join();
  EXPECT_EQ(added.load(), results.size());
  EXPECT_EQ(open_results_store(where)->select({}).size(), results.size());
}

// A database as version 1 of the schema wrote it (no models.quantization, no machines.gpu_driver),
// made here with its rows, then opened: migrated to the current version with its rows intact.
TEST_P(ResultsStore, MigratesAVersion1Database) {
  const std::string where = fresh("old");
  {
    auto db = open_sql_connection(where);
    db->exec_script("CREATE TABLE schema_version (version {int} NOT NULL); INSERT INTO schema_version VALUES (1);");
    db->exec_script(results_migrations()[0]);
    db->exec_script(R"sql(
INSERT INTO machines (fingerprint, cpu_model, cpu_isa, physical_cores, logical_cores, memory_bytes, gpu_name,
  gpu_memory_bytes, os) VALUES ('fp', 'Old CPU', 'avx2', 4, 8, 17179869184, '', 0, 'Linux 5.10 x86_64');
INSERT INTO builds (version, commit_hash, compiler, backends) VALUES ('0.0.9', 'cafef00d', 'gcc 12.2.0', 'oneDNN 3.0.0');
INSERT INTO models (name, path, family, task, parameters, dtype)
  VALUES ('bert-old', '/m/bert', 'bert', 'feature-extraction', 1000, 'f32');
INSERT INTO runs (run_uid, started_at, machine_id, build_id)
  VALUES ('old-run', '2026-01-01T00:00:00Z', (SELECT id FROM machines), (SELECT id FROM builds));
INSERT INTO results (run_id, model_id, suite, device, batch, seq_len, new_tokens, warmup, repetitions, samples,
  min_ms, median_ms, p90_ms, mean_ms, max_ms, items_per_run, unit, throughput, flops_per_run, bytes_per_run, of_gemm,
  of_copy, copy_bytes_per_s, gemm_flops_per_s)
  VALUES ((SELECT id FROM runs), (SELECT id FROM models), 'embed', 'cpu', 4, 32, 0, 1, 5, 5, 1.0, 2.0, 3.0, 2.0, 3.5,
  4, 'sequences', 2000, 1e6, 0, 0.1, 0, 1e10, 1e11);
)sql");
  }
  auto store = open_results_store(where);
  EXPECT_EQ(store->schema_version(), 3);
  const auto rows = store->select({});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].model.name, "bert-old");
  EXPECT_EQ(rows[0].model.quantization, "none");  // the migrations' defaults
  EXPECT_EQ(rows[0].machine.gpu_driver, "");
  EXPECT_EQ(rows[0].measurement.requests, 0);
  EXPECT_EQ(rows[0].measurement.error, "");
  EXPECT_EQ(rows[0].measurement.ttft_ms.count, 0);
  EXPECT_EQ(rows[0].machine.memory_bytes, 17179869184u);
  EXPECT_EQ(rows[0].build.commit, "cafef00d");
  EXPECT_DOUBLE_EQ(rows[0].measurement.ms.median, 2.0);
  // New results go in beside the old ones, and a model now differs by its quantization.
  Seed s;
  s.model = "bert-old";
  BenchResult q = seeded(s);
  q.model.quantization = "int8";
  EXPECT_EQ(store->insert({seeded(s), q}), 2u);
  EXPECT_EQ(store->select({}).size(), 3u);
  // Opening it again migrates nothing more.
  EXPECT_EQ(open_results_store(where)->select({}).size(), 3u);
}

TEST_P(ResultsStore, RefusesNewerAndForeignDatabases) {
  const std::string newer = fresh("newer"), other = fresh("other");
  open_sql_connection(newer)->exec_script(
      "CREATE TABLE schema_version (version {int} NOT NULL); INSERT INTO schema_version VALUES (99);");
  open_sql_connection(other)->exec_script("CREATE TABLE notes (text TEXT);");
  auto refused = [](const std::string& where, const std::string& needle, ErrorKind kind) {
    try {
      open_results_store(where);
      ADD_FAILURE() << where;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused(newer, "newer than this build", ErrorKind::InvalidArgument);
  refused(other, "not a benchmark results database", ErrorKind::InvalidArgument);
  // Nothing was created in the foreign database.
  EXPECT_EQ(open_sql_connection(other)->tables(), std::vector<std::string>{"notes"});
}

// The SQLite schema is the one published before PostgreSQL came: its migrations render to the
// same text, byte for byte (FNV-1a of each, as the earlier build had them).
TEST(ResultsSchema, SqliteRendersThePublishedMigrations) {
  auto fnv1a = [](const std::string& s) {
    uint64_t h = 0xcbf29ce484222325;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3;
    return h;
  };
  ASSERT_EQ(results_migrations().size(), 3u);
  EXPECT_EQ(fnv1a(render_sql(results_migrations()[0], SqlDialect::Sqlite)), 0x859395cec7b570acu);
  EXPECT_EQ(fnv1a(render_sql(results_migrations()[1], SqlDialect::Sqlite)), 0xa86cae6438e2bbadu);
  EXPECT_EQ(fnv1a(render_sql(results_migrations()[2], SqlDialect::Sqlite)), 0x0d07292578e52d90u);
  const std::string pg = render_sql(results_migrations()[0], SqlDialect::Postgres);
  EXPECT_EQ(pg.find('{'), std::string::npos);
  EXPECT_NE(pg.find("memory_bytes BIGINT NOT NULL"), std::string::npos);
  EXPECT_NE(pg.find("median_ms DOUBLE PRECISION NOT NULL"), std::string::npos);
}

TEST(PostgresUrl, RedactsThePassword) {
  EXPECT_EQ(redact_postgres_url("postgresql://ia:s3cret@db.example:5433/bench"),
            "postgresql://ia:***@db.example:5433/bench");
  EXPECT_EQ(redact_postgres_url("postgres://ia@db/bench?password=s3cret&sslmode=require"),
            "postgres://ia@db/bench?password=***&sslmode=require");
  EXPECT_EQ(redact_postgres_url("postgresql://a:b@c@host/db"), "postgresql://a:***@host/db");  // the last '@'
  EXPECT_EQ(redact_postgres_url("postgresql:///bench"), "postgresql:///bench");
  EXPECT_EQ(printable_location("/tmp/x:y@z.sqlite"), "/tmp/x:y@z.sqlite");  // a file is a file
  EXPECT_TRUE(results_store_may_exist("postgresql://h/db"));
}

// Errors reaching a server are one line (exit 2 at the CLI) naming the URL without the password.
TEST(PostgresStore, ConnectionErrorsNeverShowThePassword) {
  auto refused = [](const std::string& url, const std::string& secret, const std::string& needle) {
    try {
      open_results_store(url);
      ADD_FAILURE() << "opened " << url;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_TRUE(e.is_user_error()) << what;
      EXPECT_EQ(what.find(secret), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
    }
  };
  // Nothing listens on port 1: refused at once.
  refused("postgresql://ia:hunter2secret@127.0.0.1:1/bench", "hunter2secret",
          "postgresql://ia:***@127.0.0.1:1/bench: cannot connect to the results database");
  // A malformed URL that libpq quotes back.
  refused("postgresql://ia:pa%zzsecretword@127.0.0.1:1/bench", "secretword", "not a valid PostgreSQL URL");
  refused("postgresql://ia@127.0.0.1:1/bench?password=qu3rysecret&bogus=1", "qu3rysecret", "password=***");
  // A real server, the wrong password.
  std::string why;
  const ia::test::PostgresCluster* cluster = ia::test::shared_test_postgres(&why);
  if (!cluster) GTEST_SKIP() << "PostgreSQL: " << why;
  ia::test::PostgresCluster wrong = *cluster;
  wrong.password = "not-the-password-42";
  refused(wrong.url(), "not-the-password-42", "password authentication failed");
  refused(cluster->url("no_such_database"), cluster->password, "no_such_database");
}

}  // namespace
}  // namespace ia::benchmarks
