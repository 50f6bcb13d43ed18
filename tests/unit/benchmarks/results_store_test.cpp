// The SQLite results store: round trips, duplicates, filters, and migrating an old database.
#include "benchmarks/results_store.h"

#include <sqlite3.h>

#include <gtest/gtest.h>

#include "benchmarks/results_schema.h"
#include "core/error.h"
#include "seed_results.h"

namespace ia::benchmarks {
namespace {

using test::Seed;
using test::seeded;

ResultFilter by(std::string ResultFilter::*field, const std::string& value) {
  ResultFilter f;
  f.*field = value;
  return f;
}

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
}

TEST(ResultsStore, StoresAndReadsBackEveryField) {
  test::TempDir dir;
  auto store = open_results_store(dir.file("sub/bench.sqlite"));  // the folder is created
  EXPECT_EQ(store->schema_version(), current_results_schema_version());
  Seed gpu;
  gpu.device = "cuda:0";
  gpu.gpu = "NVIDIA H100";
  gpu.run = "run-2";
  const std::vector<BenchResult> in{seeded({}), seeded(gpu)};
  EXPECT_EQ(store->insert(in), 2u);
  EXPECT_EQ(store->insert(in), 0u);  // already stored: skipped
  const std::vector<BenchResult> out = store->select({});
  ASSERT_EQ(out.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(result_json(out[i]).dump(), result_json(in[i]).dump());
  // Another process opening the same file sees them.
  EXPECT_EQ(open_results_store(dir.file("sub/bench.sqlite"))->select({}).size(), 2u);
}

TEST(ResultsStore, Filters) {
  test::TempDir dir;
  auto store = open_results_store(dir.file("bench.sqlite"));
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
  ResultFilter newest_one;
  newest_one.limit = 1;
  const auto newest = store->select(newest_one);
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].run_id, "run-c");
}

TEST(ResultsStore, AFailedInsertLeavesNothing) {
  test::TempDir dir;
  auto store = open_results_store(dir.file("bench.sqlite"));
  Seed other_machine;
  other_machine.gpu = "another GPU";  // the same run id from another machine is refused
  EXPECT_THROW(store->insert({seeded({}), seeded(other_machine)}), Error);
  EXPECT_EQ(store->select({}).size(), 0u);
}

// A database as version 1 of the schema wrote it (no models.quantization, no machines.gpu_driver),
// made here with its rows, then opened: migrated to the current version with its rows intact.
TEST(ResultsStore, MigratesAVersion1Database) {
  test::TempDir dir;
  const std::string path = dir.file("old.sqlite");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    exec(db, "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);");
    exec(db, results_migrations()[0]);
    exec(db, R"sql(
INSERT INTO machines VALUES (1, 'fp', 'Old CPU', 'avx2', 4, 8, 17179869184, '', 0, 'Linux 5.10 x86_64');
INSERT INTO builds VALUES (1, '0.0.9', 'cafef00d', 'gcc 12.2.0', 'oneDNN 3.0.0');
INSERT INTO models VALUES (1, 'bert-old', '/m/bert', 'bert', 'feature-extraction', 1000, 'f32');
INSERT INTO runs VALUES (1, 'old-run', '2026-01-01T00:00:00Z', 1, 1);
INSERT INTO results VALUES (1, 1, 1, 'embed', 'cpu', 4, 32, 0, 1, 5, 5, 1.0, 2.0, 3.0, 2.0, 3.5, 4, 'sequences',
  2000, 1e6, 0, 0.1, 0, 1e10, 1e11);
)sql");
    sqlite3_close(db);
  }
  auto store = open_results_store(path);
  EXPECT_EQ(store->schema_version(), 2);
  const auto rows = store->select({});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].model.name, "bert-old");
  EXPECT_EQ(rows[0].model.quantization, "none");  // the migration's default
  EXPECT_EQ(rows[0].machine.gpu_driver, "");
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
  EXPECT_EQ(open_results_store(path)->select({}).size(), 3u);
}

TEST(ResultsStore, RefusesNewerAndForeignDatabases) {
  test::TempDir dir;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir.file("newer.sqlite").c_str(), &db), SQLITE_OK);
    exec(db, "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (99);");
    sqlite3_close(db);
    ASSERT_EQ(sqlite3_open(dir.file("other.sqlite").c_str(), &db), SQLITE_OK);
    exec(db, "CREATE TABLE notes (text TEXT);");
    sqlite3_close(db);
  }
  auto refused = [](const std::string& path, const std::string& needle, ErrorKind kind) {
    try {
      open_results_store(path);
      ADD_FAILURE() << path;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused(dir.file("newer.sqlite"), "newer than this build", ErrorKind::InvalidArgument);
  refused(dir.file("other.sqlite"), "not a benchmark results database", ErrorKind::InvalidArgument);
  refused("postgresql://localhost/bench", "PostgreSQL", ErrorKind::Unsupported);
}

}  // namespace
}  // namespace ia::benchmarks
