#pragma once
// The results database's schema as an ordered list of migrations: migration i takes a database at
// version i to version i + 1, so a new database runs them all and an old one the rest. A change to
// the schema is a new entry at the end, never an edit of a published one.
//
// Column types are the dialect's tokens (sql_connection.h): {id} an integer primary key the
// database numbers, {int} a 64-bit integer, {real} a double. For SQLite they render to exactly the
// text these migrations had before PostgreSQL was added (INTEGER PRIMARY KEY, INTEGER, REAL).
//
//   1: machines, builds, models, runs, results.
//   2: models.quantization (weights' quantization, "none" for what was stored before) and
//      machines.gpu_driver; the models' identity includes the quantization.
//   3: the results of requests to a server (the server-load suite): requests, errors, the first
//      error, requests/s, and the spread of the time to first token and of the inter-token
//      latency (zero for every other result).
#include <vector>

namespace ia::benchmarks {

inline const std::vector<const char*>& results_migrations() {
  static const std::vector<const char*> migrations{
      // 0 -> 1
      R"sql(
CREATE TABLE machines (
  id {id},
  fingerprint TEXT NOT NULL UNIQUE,
  cpu_model TEXT NOT NULL,
  cpu_isa TEXT NOT NULL,
  physical_cores {int} NOT NULL,
  logical_cores {int} NOT NULL,
  memory_bytes {int} NOT NULL,
  gpu_name TEXT NOT NULL,
  gpu_memory_bytes {int} NOT NULL,
  os TEXT NOT NULL);
CREATE TABLE builds (
  id {id},
  version TEXT NOT NULL,
  commit_hash TEXT NOT NULL,
  compiler TEXT NOT NULL,
  backends TEXT NOT NULL,
  UNIQUE (version, commit_hash, compiler, backends));
CREATE TABLE models (
  id {id},
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  family TEXT NOT NULL,
  task TEXT NOT NULL,
  parameters {int} NOT NULL,
  dtype TEXT NOT NULL);
CREATE UNIQUE INDEX models_identity ON models (name, path, family, task, parameters, dtype);
CREATE TABLE runs (
  id {id},
  run_uid TEXT NOT NULL UNIQUE,
  started_at TEXT NOT NULL,
  machine_id {int} NOT NULL REFERENCES machines (id),
  build_id {int} NOT NULL REFERENCES builds (id));
CREATE TABLE results (
  id {id},
  run_id {int} NOT NULL REFERENCES runs (id),
  model_id {int} NOT NULL REFERENCES models (id),
  suite TEXT NOT NULL,
  device TEXT NOT NULL,
  batch {int} NOT NULL,
  seq_len {int} NOT NULL,
  new_tokens {int} NOT NULL,
  warmup {int} NOT NULL,
  repetitions {int} NOT NULL,
  samples {int} NOT NULL,
  min_ms {real} NOT NULL,
  median_ms {real} NOT NULL,
  p90_ms {real} NOT NULL,
  mean_ms {real} NOT NULL,
  max_ms {real} NOT NULL,
  items_per_run {real} NOT NULL,
  unit TEXT NOT NULL,
  throughput {real} NOT NULL,
  flops_per_run {real} NOT NULL,
  bytes_per_run {real} NOT NULL,
  of_gemm {real} NOT NULL,
  of_copy {real} NOT NULL,
  copy_bytes_per_s {real} NOT NULL,
  gemm_flops_per_s {real} NOT NULL,
  UNIQUE (run_id, model_id, suite, device, batch, seq_len, new_tokens));
CREATE INDEX results_model ON results (model_id);
)sql",
      // 1 -> 2
      R"sql(
ALTER TABLE models ADD COLUMN quantization TEXT NOT NULL DEFAULT 'none';
DROP INDEX models_identity;
CREATE UNIQUE INDEX models_identity ON models (name, path, family, task, parameters, dtype, quantization);
ALTER TABLE machines ADD COLUMN gpu_driver TEXT NOT NULL DEFAULT '';
)sql",
      // 2 -> 3
      R"sql(
ALTER TABLE results ADD COLUMN requests {int} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN errors {int} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN first_error TEXT NOT NULL DEFAULT '';
ALTER TABLE results ADD COLUMN requests_per_s {real} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN ttft_samples {int} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN ttft_min_ms {real} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN ttft_median_ms {real} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN ttft_p90_ms {real} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN ttft_mean_ms {real} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN ttft_max_ms {real} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN itl_samples {int} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN itl_min_ms {real} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN itl_median_ms {real} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN itl_p90_ms {real} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN itl_mean_ms {real} NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN itl_max_ms {real} NOT NULL DEFAULT 0;
)sql",
  };
  return migrations;
}

inline int current_results_schema_version() {
  return static_cast<int>(results_migrations().size());
}

}  // namespace ia::benchmarks
