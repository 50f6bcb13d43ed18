// The results store, written once over SqlConnection: the same schema, migrations, statements and
// transactions on SQLite and on PostgreSQL; only sql_connection.h's tokens and the connection
// itself differ.
#include "benchmarks/results_store.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <variant>

#include <fmt/format.h>

#include "benchmarks/results_schema.h"
#include "benchmarks/sql_connection.h"
#include "core/error.h"
#include "ipfs/fs_blockstore.h"

namespace ia::benchmarks {

namespace {

class SqlResultsStore : public ResultsStore {
 public:
  explicit SqlResultsStore(std::unique_ptr<SqlConnection> db) : db_(std::move(db)) { migrate(); }

  int schema_version() const override { return version_; }
  std::string location() const override { return db_->location(); }

  size_t insert(const std::vector<BenchResult>& results) override {
    db_->begin_write();
    ids_.clear();
    runs_.clear();
    try {
      size_t added = 0;
      for (const BenchResult& r : results) added += insert_one(r);
      db_->commit();
      return added;
    } catch (...) {
      db_->rollback();
      ids_.clear();  // rows added in the transaction are gone, and so are their ids
      runs_.clear();
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
  re.flops_per_run, re.bytes_per_run, re.of_gemm, re.of_copy, re.copy_bytes_per_s, re.gemm_flops_per_s,
  re.requests, re.errors, re.first_error, re.requests_per_s,
  re.ttft_samples, re.ttft_min_ms, re.ttft_median_ms, re.ttft_p90_ms, re.ttft_mean_ms, re.ttft_max_ms,
  re.itl_samples, re.itl_min_ms, re.itl_median_ms, re.itl_p90_ms, re.itl_mean_ms, re.itl_max_ms
FROM results re
JOIN runs ru ON ru.id = re.run_id
JOIN machines ma ON ma.id = ru.machine_id
JOIN builds bu ON bu.id = ru.build_id
JOIN models mo ON mo.id = re.model_id
WHERE 1 = 1)sql";
    std::vector<SqlValue> args;
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
      sql += " AND (mo.name {like} ? ESCAPE '\\' OR mo.path {like} ? ESCAPE '\\')";
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
    add(f.commit, "bu.commit_hash {like} ? ESCAPE '\\'", like(f.commit) + "%");
    if (!f.machine.empty()) {
      sql += " AND (ma.cpu_model {like} ? ESCAPE '\\' OR ma.gpu_name {like} ? ESCAPE '\\')";
      args.push_back("%" + like(f.machine) + "%");
      args.push_back("%" + like(f.machine) + "%");
    }
    add(f.run_id, "ru.run_uid = ?", f.run_id);
    if (f.limit) {
      sql += " ORDER BY re.id DESC LIMIT ?";
      args.push_back(static_cast<int64_t>(std::min<size_t>(f.limit, INT64_MAX)));
    } else {
      sql += " ORDER BY re.id";
    }
    const auto rows = db_->query(sql, args);
    const SqlRows& q = *rows;
    std::vector<BenchResult> out;
    while (rows->next()) {
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
      auto stats = [&](SampleStats& st) {
        st.count = static_cast<int>(q.integer(c++));
        st.min = q.real(c++);
        st.median = q.real(c++);
        st.p90 = q.real(c++);
        st.mean = q.real(c++);
        st.max = q.real(c++);
      };
      Measurement& me = r.measurement;
      stats(me.ms);
      me.items_per_run = q.real(c++);
      me.unit = q.text(c++);
      me.throughput = q.real(c++);
      me.flops_per_run = q.real(c++);
      me.bytes_per_run = q.real(c++);
      me.of_gemm = q.real(c++);
      me.of_copy = q.real(c++);
      r.ceilings.copy_bytes_per_s = q.real(c++);
      r.ceilings.gemm_flops_per_s = q.real(c++);
      me.requests = q.integer(c++);
      me.errors = q.integer(c++);
      me.error = q.text(c++);
      me.requests_per_s = q.real(c++);
      stats(me.ttft_ms);
      stats(me.itl_ms);
      out.push_back(std::move(r));
    }
    if (f.limit) std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  // Brings the database to the current schema in one write transaction, each migration with the
  // version it reaches: a failed one leaves the database as it was.
  void migrate() {
    db_->begin_write();
    try {
      version_ = read_version();
      const int current = current_results_schema_version();
      if (version_ > current)
        fail(ErrorKind::InvalidArgument,
             "{}: the results database has schema version {}, newer than this build's {} (update ipfs-accelerate)",
             location(), version_, current);
      for (int v = version_; v < current; ++v) {
        db_->exec_script(results_migrations()[static_cast<size_t>(v)]);
        db_->query("UPDATE schema_version SET version = ?", {int64_t{v + 1}});
      }
      db_->commit();
      version_ = current;
    } catch (...) {
      db_->rollback();
      throw;
    }
  }

  // 0 for an empty database (then the version table is created); InvalidArgument for a database
  // of something else.
  int read_version() {
    bool has_version = false, has_other = false;
    for (const std::string& table : db_->tables()) (table == "schema_version" ? has_version : has_other) = true;
    if (!has_version) {
      if (has_other) fail(ErrorKind::InvalidArgument, "{}: not a benchmark results database", location());
      db_->exec_script("CREATE TABLE schema_version (version {int} NOT NULL)");
      db_->query("INSERT INTO schema_version VALUES (?)", {int64_t{0}});
      return 0;
    }
    const auto rows = db_->query("SELECT version FROM schema_version");
    if (!rows->next()) fail(ErrorKind::InvalidArgument, "{}: the schema_version table is empty", location());
    return static_cast<int>(rows->integer(0));
  }

  // The id of the row with these column values in `table`, inserted when absent. Remembered for
  // the rest of the transaction: an import's results share a few machines, builds, models and
  // runs, so each is looked up once rather than once per result (a round trip each on a server).
  int64_t id_of(const std::string& table, const std::vector<std::pair<std::string, SqlValue>>& columns) {
    std::string where, cols, marks, key = table;
    std::vector<SqlValue> values;
    for (size_t i = 0; i < columns.size(); ++i) {
      where += (i ? " AND " : "") + columns[i].first + " = ?";
      cols += (i ? ", " : "") + columns[i].first;
      marks += i ? ", ?" : "?";
      values.push_back(columns[i].second);
      key += '\0' + std::visit([](const auto& v) { return fmt::format("{}", v); }, columns[i].second);
    }
    if (auto known = ids_.find(key); known != ids_.end()) return known->second;
    int64_t id = 0;
    if (auto found = db_->query(fmt::format("SELECT id FROM {} WHERE {}", table, where), values); found->next()) {
      id = found->integer(0);
    } else {
      auto added = db_->query(fmt::format("INSERT INTO {} ({}) VALUES ({}) RETURNING id", table, cols, marks), values);
      if (!added->next()) fail(ErrorKind::Internal, "{}: no id for the row added to {}", location(), table);
      id = added->integer(0);
    }
    ids_.emplace(std::move(key), id);
    return id;
  }

  size_t insert_one(const BenchResult& r) {
    const MachineInfo& m = r.machine;
    const int64_t machine = id_of("machines", {{"fingerprint", m.fingerprint()},
                                               {"cpu_model", m.cpu_model},
                                               {"cpu_isa", m.cpu_isa},
                                               {"gpu_name", m.gpu_name},
                                               {"gpu_driver", m.gpu_driver},
                                               {"os", m.os},
                                               {"physical_cores", int64_t{m.physical_cores}},
                                               {"logical_cores", int64_t{m.logical_cores}},
                                               {"memory_bytes", static_cast<int64_t>(m.memory_bytes)},
                                               {"gpu_memory_bytes", static_cast<int64_t>(m.gpu_memory_bytes)}});
    const int64_t build = id_of("builds", {{"version", r.build.version},
                                           {"commit_hash", r.build.commit},
                                           {"compiler", r.build.compiler},
                                           {"backends", r.build.backends}});
    const ModelInfo& mo = r.model;
    const int64_t model = id_of("models", {{"name", mo.name},
                                           {"path", mo.path},
                                           {"family", mo.family},
                                           {"task", mo.task},
                                           {"dtype", mo.dtype},
                                           {"quantization", mo.quantization},
                                           {"parameters", mo.parameters}});
    auto known = runs_.find(r.run_id);
    if (known == runs_.end()) {
      RunRow row;
      if (auto found = db_->query("SELECT id, machine_id, build_id FROM runs WHERE run_uid = ?", {r.run_id});
          found->next()) {
        row = {found->integer(0), found->integer(1), found->integer(2)};
      } else {
        auto added =
            db_->query("INSERT INTO runs (run_uid, started_at, machine_id, build_id) VALUES (?, ?, ?, ?) RETURNING id",
                       {r.run_id, r.started_at, machine, build});
        if (!added->next()) fail(ErrorKind::Internal, "{}: no id for the run added", location());
        row = {added->integer(0), machine, build};
      }
      known = runs_.emplace(r.run_id, row).first;
    }
    if (known->second.machine != machine || known->second.build != build)
      fail(ErrorKind::InvalidArgument, "run {} is already stored with another machine or build", r.run_id);
    const int64_t run = known->second.id;
    const CaseParams& p = r.params;
    const Measurement& me = r.measurement;
    // A result already stored (same run, model and case) is skipped: no row comes back.
    auto added = db_->query(
        R"sql(
INSERT INTO results (run_id, model_id, suite, device, batch, seq_len, new_tokens, warmup, repetitions,
  samples, min_ms, median_ms, p90_ms, mean_ms, max_ms, items_per_run, unit, throughput, flops_per_run, bytes_per_run,
  of_gemm, of_copy, copy_bytes_per_s, gemm_flops_per_s, requests, errors, first_error, requests_per_s,
  ttft_samples, ttft_min_ms, ttft_median_ms, ttft_p90_ms, ttft_mean_ms, ttft_max_ms,
  itl_samples, itl_min_ms, itl_median_ms, itl_p90_ms, itl_mean_ms, itl_max_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
  ?, ?)
ON CONFLICT DO NOTHING RETURNING id)sql",
        {run,
         model,
         p.suite,
         p.device,
         p.batch,
         p.seq_len,
         p.new_tokens,
         int64_t{p.warmup},
         int64_t{p.repetitions},
         int64_t{me.ms.count},
         me.ms.min,
         me.ms.median,
         me.ms.p90,
         me.ms.mean,
         me.ms.max,
         me.items_per_run,
         me.unit,
         me.throughput,
         me.flops_per_run,
         me.bytes_per_run,
         me.of_gemm,
         me.of_copy,
         r.ceilings.copy_bytes_per_s,
         r.ceilings.gemm_flops_per_s,
         me.requests,
         me.errors,
         me.error,
         me.requests_per_s,
         int64_t{me.ttft_ms.count},
         me.ttft_ms.min,
         me.ttft_ms.median,
         me.ttft_ms.p90,
         me.ttft_ms.mean,
         me.ttft_ms.max,
         int64_t{me.itl_ms.count},
         me.itl_ms.min,
         me.itl_ms.median,
         me.itl_ms.p90,
         me.itl_ms.mean,
         me.itl_ms.max});
    return added->next() ? 1 : 0;
  }

  std::unique_ptr<SqlConnection> db_;
  int version_ = 0;
  struct RunRow {
    int64_t id = 0, machine = 0, build = 0;
  };
  // Within one insert's transaction: id_of's ids, and the runs seen.
  std::map<std::string, int64_t> ids_;
  std::map<std::string, RunRow> runs_;
};

}  // namespace

std::string default_results_location() {
  return (ipfs::default_home() / "benchmarks.sqlite").string();
}

std::unique_ptr<ResultsStore> open_results_store(const std::string& location) {
  return std::make_unique<SqlResultsStore>(open_sql_connection(location));
}

bool results_store_may_exist(const std::string& location) {
  std::error_code ec;
  return is_postgres_url(location) || std::filesystem::exists(location, ec);
}

std::string printable_location(const std::string& location) {
  return is_postgres_url(location) ? redact_postgres_url(location) : location;
}

}  // namespace ia::benchmarks
