// The SQLite results store.
#include "benchmarks/results_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "benchmarks/results_schema.h"
#include "core/error.h"
#include "ipfs/fs_blockstore.h"

namespace ia::benchmarks {

namespace {

namespace fs = std::filesystem;

// A file that is not SQLite or is damaged is the user's to fix; anything else is this code's.
ErrorKind kind_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: return ErrorKind::InvalidArgument;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_PERM: return ErrorKind::Unavailable;
    default: return ErrorKind::Internal;
  }
}

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, const std::string& where) : db_(db), where_(where) {
    const int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr);
    if (rc != SQLITE_OK) fail(kind_of(rc), "{}: {}", where_, sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    check(sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  Statement& bind(int i, double v) {
    check(sqlite3_bind_double(stmt_, i, v));
    return *this;
  }
  // Binds the values to parameters 1, 2, ... in order.
  template <class... Values>
  Statement& bind_values(const Values&... values) {
    int i = 1;
    (bind(i++, values), ...);
    return *this;
  }
  // true while a row is there.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(kind_of(rc) == ErrorKind::Internal ? ErrorKind::Unavailable : kind_of(rc), "{}: {}", where_,
         sqlite3_errmsg(db_));
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }

 private:
  void check(int rc) const {
    if (rc != SQLITE_OK) fail(ErrorKind::Internal, "{}: cannot bind a value: {}", where_, sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string where_;
};

class SqliteResultsStore : public ResultsStore {
 public:
  explicit SqliteResultsStore(const std::string& path) : path_(path) {
    std::error_code ec;
    const fs::path parent = fs::path(path).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      fail(ErrorKind::Unavailable, "{}: cannot open the results database: {}", path, why);
    }
    sqlite3_busy_timeout(db_, 10000);  // another `bench` writing: wait for it
    exec("PRAGMA foreign_keys = ON");
    migrate();
  }
  ~SqliteResultsStore() override { sqlite3_close(db_); }

  int schema_version() const override { return version_; }
  std::string location() const override { return path_; }

  size_t insert(const std::vector<BenchResult>& results) override {
    exec("BEGIN IMMEDIATE");
    try {
      size_t added = 0;
      for (const BenchResult& r : results) added += insert_one(r);
      exec("COMMIT");
      return added;
    } catch (...) {
      exec_quiet("ROLLBACK");
      throw;
    }
  }

  std::vector<BenchResult> select(const ResultFilter& f) const override {
    std::string sql = R"sql(
SELECT ru.run_uid, ru.started_at,
  ma.cpu_model, ma.cpu_isa, ma.physical_cores, ma.logical_cores, ma.memory_bytes, ma.gpu_name, ma.gpu_memory_bytes,
  ma.gpu_driver, ma.os,
  bu.version, bu.commit_hash, bu.compiler, bu.backends,
  mo.name, mo.path, mo.family, mo.task, mo.parameters, mo.dtype, mo.quantization,
  re.suite, re.device, re.batch, re.seq_len, re.new_tokens, re.warmup, re.repetitions,
  re.samples, re.min_ms, re.median_ms, re.p90_ms, re.mean_ms, re.max_ms, re.items_per_run, re.unit, re.throughput,
  re.flops_per_run, re.bytes_per_run, re.of_gemm, re.of_copy, re.copy_bytes_per_s, re.gemm_flops_per_s
FROM results re
JOIN runs ru ON ru.id = re.run_id
JOIN machines ma ON ma.id = ru.machine_id
JOIN builds bu ON bu.id = ru.build_id
JOIN models mo ON mo.id = re.model_id
WHERE 1 = 1)sql";
    std::vector<std::string> args;
    auto add = [&](const std::string& value, const std::string& clause, const std::string& bound) {
      if (value.empty()) return;
      sql += " AND " + clause;
      args.push_back(bound);
    };
    // LIKE patterns escape their own wildcards so a user's "_" is a character.
    auto like = [](const std::string& s) {
      std::string out;
      for (char c : s) {
        if (c == '%' || c == '_' || c == '\\') out += '\\';
        out += c;
      }
      return out;
    };
    if (!f.model.empty()) {
      sql += " AND (mo.name LIKE ? ESCAPE '\\' OR mo.path LIKE ? ESCAPE '\\')";
      args.push_back("%" + like(f.model) + "%");
      args.push_back("%" + like(f.model) + "%");
    }
    add(f.family, "mo.family = ?", f.family);
    add(f.suite, "re.suite = ?", f.suite);
    if (f.device == "cuda")
      sql += " AND re.device LIKE 'cuda:%'";
    else
      add(f.device, "re.device = ?", f.device);
    add(f.dtype, "mo.dtype = ?", f.dtype);
    add(f.commit, "bu.commit_hash LIKE ? ESCAPE '\\'", like(f.commit) + "%");
    if (!f.machine.empty()) {
      sql += " AND (ma.cpu_model LIKE ? ESCAPE '\\' OR ma.gpu_name LIKE ? ESCAPE '\\')";
      args.push_back("%" + like(f.machine) + "%");
      args.push_back("%" + like(f.machine) + "%");
    }
    add(f.run_id, "ru.run_uid = ?", f.run_id);
    sql += f.limit ? fmt::format(" ORDER BY re.id DESC LIMIT {}", f.limit) : " ORDER BY re.id";
    Statement q(db_, sql, path_);
    for (size_t i = 0; i < args.size(); ++i) q.bind(static_cast<int>(i + 1), args[i]);
    std::vector<BenchResult> out;
    while (q.step()) {
      BenchResult r;
      int c = 0;
      r.run_id = q.text(c++);
      r.started_at = q.text(c++);
      MachineInfo& m = r.machine;
      m.cpu_model = q.text(c++);
      m.cpu_isa = q.text(c++);
      m.physical_cores = static_cast<int>(q.integer(c++));
      m.logical_cores = static_cast<int>(q.integer(c++));
      m.memory_bytes = static_cast<uint64_t>(q.integer(c++));
      m.gpu_name = q.text(c++);
      m.gpu_memory_bytes = static_cast<uint64_t>(q.integer(c++));
      m.gpu_driver = q.text(c++);
      m.os = q.text(c++);
      r.build.version = q.text(c++);
      r.build.commit = q.text(c++);
      r.build.compiler = q.text(c++);
      r.build.backends = q.text(c++);
      r.model.name = q.text(c++);
      r.model.path = q.text(c++);
      r.model.family = q.text(c++);
      r.model.task = q.text(c++);
      r.model.parameters = q.integer(c++);
      r.model.dtype = q.text(c++);
      r.model.quantization = q.text(c++);
      CaseParams& p = r.params;
      p.suite = q.text(c++);
      p.device = q.text(c++);
      p.batch = q.integer(c++);
      p.seq_len = q.integer(c++);
      p.new_tokens = q.integer(c++);
      p.warmup = static_cast<int>(q.integer(c++));
      p.repetitions = static_cast<int>(q.integer(c++));
      Measurement& me = r.measurement;
      me.ms.count = static_cast<int>(q.integer(c++));
      me.ms.min = q.real(c++);
      me.ms.median = q.real(c++);
      me.ms.p90 = q.real(c++);
      me.ms.mean = q.real(c++);
      me.ms.max = q.real(c++);
      me.items_per_run = q.real(c++);
      me.unit = q.text(c++);
      me.throughput = q.real(c++);
      me.flops_per_run = q.real(c++);
      me.bytes_per_run = q.real(c++);
      me.of_gemm = q.real(c++);
      me.of_copy = q.real(c++);
      r.ceilings.copy_bytes_per_s = q.real(c++);
      r.ceilings.gemm_flops_per_s = q.real(c++);
      out.push_back(std::move(r));
    }
    if (f.limit) std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  void exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      const std::string why = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      fail(kind_of(rc) == ErrorKind::Internal ? ErrorKind::Unavailable : kind_of(rc), "{}: {}", path_, why);
    }
  }
  void exec_quiet(const std::string& sql) { sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }

  // Brings the database to the current schema, each migration in its own transaction with the
  // version it reaches.
  void migrate() {
    exec("BEGIN IMMEDIATE");
    try {
      version_ = read_version();
      const int current = current_results_schema_version();
      if (version_ > current)
        fail(ErrorKind::InvalidArgument,
             "{}: the results database has schema version {}, newer than this build's {} (update ipfs-accelerate)",
             path_, version_, current);
      for (int v = version_; v < current; ++v) {
        exec(results_migrations()[static_cast<size_t>(v)]);
        exec(fmt::format("UPDATE schema_version SET version = {}", v + 1));
      }
      exec("COMMIT");
      version_ = current;
    } catch (...) {
      exec_quiet("ROLLBACK");
      throw;
    }
  }

  // 0 for an empty file (then the version table is created); InvalidArgument for a database of
  // something else.
  int read_version() {
    Statement tables(db_, "SELECT name FROM sqlite_master WHERE type = 'table'", path_);
    bool has_version = false, has_other = false;
    while (tables.step()) (tables.text(0) == "schema_version" ? has_version : has_other) = true;
    if (!has_version) {
      if (has_other) fail(ErrorKind::InvalidArgument, "{}: not a benchmark results database", path_);
      exec("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (0)");
      return 0;
    }
    Statement q(db_, "SELECT version FROM schema_version", path_);
    if (!q.step()) fail(ErrorKind::InvalidArgument, "{}: the schema_version table is empty", path_);
    return static_cast<int>(q.integer(0));
  }

  // The id of the row matching `values` in `table`, inserted when absent.
  int64_t id_of(const std::string& table, const std::vector<std::string>& columns,
                const std::vector<std::string>& texts, const std::vector<int64_t>& ints) {
    std::string where, cols, marks;
    for (size_t i = 0; i < columns.size(); ++i) {
      where += (i ? " AND " : "") + columns[i] + " = ?";
      cols += (i ? ", " : "") + columns[i];
      marks += i ? ", ?" : "?";
    }
    auto bind_all = [&](Statement& s) {
      int k = 1;
      for (const auto& t : texts) s.bind(k++, t);
      for (int64_t n : ints) s.bind(k++, n);
    };
    Statement find(db_, fmt::format("SELECT id FROM {} WHERE {}", table, where), path_);
    bind_all(find);
    if (find.step()) return find.integer(0);
    Statement add(db_, fmt::format("INSERT INTO {} ({}) VALUES ({})", table, cols, marks), path_);
    bind_all(add);
    add.step();
    return sqlite3_last_insert_rowid(db_);
  }

  size_t insert_one(const BenchResult& r) {
    const MachineInfo& m = r.machine;
    // The columns: texts first, then integers (id_of binds them in that order).
    const int64_t machine = id_of("machines",
                                  {"fingerprint", "cpu_model", "cpu_isa", "gpu_name", "gpu_driver", "os",
                                   "physical_cores", "logical_cores", "memory_bytes", "gpu_memory_bytes"},
                                  {m.fingerprint(), m.cpu_model, m.cpu_isa, m.gpu_name, m.gpu_driver, m.os},
                                  {m.physical_cores, m.logical_cores, static_cast<int64_t>(m.memory_bytes),
                                   static_cast<int64_t>(m.gpu_memory_bytes)});
    const int64_t build = id_of("builds", {"version", "commit_hash", "compiler", "backends"},
                                {r.build.version, r.build.commit, r.build.compiler, r.build.backends}, {});
    const ModelInfo& mo = r.model;
    const int64_t model = id_of("models", {"name", "path", "family", "task", "dtype", "quantization", "parameters"},
                                {mo.name, mo.path, mo.family, mo.task, mo.dtype, mo.quantization}, {mo.parameters});
    int64_t run = 0;
    {
      Statement find(db_, "SELECT id, machine_id, build_id FROM runs WHERE run_uid = ?", path_);
      find.bind(1, r.run_id);
      if (find.step()) {
        run = find.integer(0);
        if (find.integer(1) != machine || find.integer(2) != build)
          fail(ErrorKind::InvalidArgument, "run {} is already stored with another machine or build", r.run_id);
      } else {
        Statement add(db_, "INSERT INTO runs (run_uid, started_at, machine_id, build_id) VALUES (?, ?, ?, ?)", path_);
        add.bind_values(r.run_id, r.started_at, machine, build);
        add.step();
        run = sqlite3_last_insert_rowid(db_);
      }
    }
    const CaseParams& p = r.params;
    const Measurement& me = r.measurement;
    Statement add(db_, R"sql(
INSERT OR IGNORE INTO results (run_id, model_id, suite, device, batch, seq_len, new_tokens, warmup, repetitions,
  samples, min_ms, median_ms, p90_ms, mean_ms, max_ms, items_per_run, unit, throughput, flops_per_run, bytes_per_run,
  of_gemm, of_copy, copy_bytes_per_s, gemm_flops_per_s)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql",
                  path_);
    add.bind_values(run, model, p.suite, p.device, p.batch, p.seq_len, p.new_tokens, int64_t{p.warmup},
                    int64_t{p.repetitions}, int64_t{me.ms.count}, me.ms.min, me.ms.median, me.ms.p90, me.ms.mean,
                    me.ms.max, me.items_per_run, me.unit, me.throughput, me.flops_per_run, me.bytes_per_run, me.of_gemm,
                    me.of_copy, r.ceilings.copy_bytes_per_s, r.ceilings.gemm_flops_per_s);
    add.step();
    return static_cast<size_t>(sqlite3_changes(db_));
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  int version_ = 0;
};

}  // namespace

std::string default_results_location() {
  return (ipfs::default_home() / "benchmarks.sqlite").string();
}

std::unique_ptr<ResultsStore> open_results_store(const std::string& location) {
  if (location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0)
    fail(ErrorKind::Unsupported, "a PostgreSQL results database is not supported yet; use a SQLite file (--db PATH)");
  if (location.empty()) fail(ErrorKind::InvalidArgument, "no results database given (--db PATH)");
  return std::make_unique<SqliteResultsStore>(location);
}

}  // namespace ia::benchmarks
