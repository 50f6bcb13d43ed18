// SqlConnection over an embedded SQLite file.
#include <sqlite3.h>

#include <filesystem>

#include <fmt/format.h>

#include "benchmarks/sql_connection.h"
#include "core/error.h"

namespace ia::benchmarks {

namespace {

namespace fs = std::filesystem;

// A file that is not SQLite or is damaged is the user's to fix; a busy, full or read-only one is
// the machine's state; a statement SQLite cannot prepare is this code's.
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

// Running a statement that prepared: what goes wrong is the database's state, not this code's.
ErrorKind run_kind_of(int rc) {
  const ErrorKind kind = kind_of(rc);
  return kind == ErrorKind::Internal ? ErrorKind::Unavailable : kind;
}

class SqliteRows : public SqlRows {
 public:
  SqliteRows(sqlite3* db, const std::string& sql, const std::vector<SqlValue>& values, const std::string& where)
      : db_(db), where_(where) {
    const int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr);
    if (rc != SQLITE_OK) fail(kind_of(rc), "{}: {}", where_, sqlite3_errmsg(db));
    int i = 1;
    for (const SqlValue& v : values) bind(i++, v);
    // The statement runs now, whether or not its rows are read.
    pending_ = step();
  }
  ~SqliteRows() override { sqlite3_finalize(stmt_); }
  SqliteRows(const SqliteRows&) = delete;
  SqliteRows& operator=(const SqliteRows&) = delete;

  bool next() override {
    if (first_) {
      first_ = false;
      return pending_;
    }
    return pending_ && (pending_ = step());
  }
  std::string text(int col) const override {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : "";
  }
  int64_t integer(int col) const override { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const override { return sqlite3_column_double(stmt_, col); }

 private:
  void bind(int i, const SqlValue& v) {
    int rc = SQLITE_OK;
    if (const auto* s = std::get_if<std::string>(&v))
      rc = sqlite3_bind_text(stmt_, i, s->c_str(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
    else if (const auto* n = std::get_if<int64_t>(&v))
      rc = sqlite3_bind_int64(stmt_, i, *n);
    else
      rc = sqlite3_bind_double(stmt_, i, std::get<double>(v));
    if (rc != SQLITE_OK) fail(ErrorKind::Internal, "{}: cannot bind a value: {}", where_, sqlite3_errmsg(db_));
  }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(run_kind_of(rc), "{}: {}", where_, sqlite3_errmsg(db_));
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string where_;
  bool pending_ = false, first_ = true;
};

class SqliteConnection : public SqlConnection {
 public:
  explicit SqliteConnection(const std::string& path) : path_(path) {
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
    exec_script("PRAGMA foreign_keys = ON");
  }
  ~SqliteConnection() override { sqlite3_close(db_); }
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  SqlDialect dialect() const override { return SqlDialect::Sqlite; }
  const std::string& location() const override { return path_; }

  void exec_script(const std::string& sql) override {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, render_sql(sql, SqlDialect::Sqlite).c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      const std::string why = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      fail(run_kind_of(rc), "{}: {}", path_, why);
    }
  }

  std::unique_ptr<SqlRows> query(const std::string& sql, const std::vector<SqlValue>& values) override {
    return std::make_unique<SqliteRows>(db_, render_sql(sql, SqlDialect::Sqlite), values, path_);
  }

  std::vector<std::string> tables() override {
    std::vector<std::string> out;
    for (auto rows = query("SELECT name FROM sqlite_master WHERE type = 'table'", {}); rows->next();)
      out.push_back(rows->text(0));
    return out;
  }

  void begin_write() override { exec_script("BEGIN IMMEDIATE"); }
  void commit() override { exec_script("COMMIT"); }
  void rollback() noexcept override { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace

std::unique_ptr<SqlConnection> open_sqlite_connection(const std::string& path) {
  return std::make_unique<SqliteConnection>(path);
}

}  // namespace ia::benchmarks
