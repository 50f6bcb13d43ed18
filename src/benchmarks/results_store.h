#pragma once
// The benchmark results database: SQLite by default ($IPFS_ACCELERATE_HOME/benchmarks.sqlite), or
// PostgreSQL (a postgresql:// URL), normalized into machines, builds, models, runs and results,
// with a schema version and the migrations that bring an older database up to it
// (results_schema.h). One implementation serves both engines (sql_connection.h holds their
// differences). Every write is one transaction: a failed insert or import leaves the database as
// it was.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "benchmarks/bench_result.h"

namespace ia::benchmarks {

// What `bench query` and the reports select. Empty fields match everything.
struct ResultFilter {
  std::string model;    // the name as given, the folder, or a part of either
  std::string family;   // exact
  std::string suite;    // exact
  std::string device;   // "cpu", "cuda" (any CUDA device) or "cuda:N"
  std::string dtype;    // exact
  std::string commit;   // a prefix of the build's commit
  std::string machine;  // a part of the CPU model or GPU name
  std::string run_id;   // exact
  size_t limit = 0;     // 0: no limit; newest first otherwise
};

class ResultsStore {
 public:
  virtual ~ResultsStore() = default;
  // Adds results; a result already stored (same run, model and case) is skipped. Returns how many
  // were added.
  virtual size_t insert(const std::vector<BenchResult>& results) = 0;
  // Matching results, oldest first (newest `limit` when given).
  virtual std::vector<BenchResult> select(const ResultFilter& filter) const = 0;
  virtual int schema_version() const = 0;
  virtual std::string location() const = 0;
};

// $IPFS_ACCELERATE_HOME/benchmarks.sqlite (~/.cache/ipfs-accelerate/benchmarks.sqlite).
std::string default_results_location();

// A SQLite file path (created with its folder), or a PostgreSQL URL
// (postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?PARAM=VALUE...], as libpq reads it; the
// database must exist), migrated to the current schema. InvalidArgument naming the location when
// it is not a results database or was written by a newer schema; Unavailable, in one line that
// names the URL without its password, when the server cannot be reached or refuses the login.
std::unique_ptr<ResultsStore> open_results_store(const std::string& location);

// Whether `location` may hold results without anything being created to find out: the SQLite
// file exists, or it is a PostgreSQL URL.
bool results_store_may_exist(const std::string& location);

// `location` as output may show it: a PostgreSQL URL without its password.
std::string printable_location(const std::string& location);

}  // namespace ia::benchmarks
