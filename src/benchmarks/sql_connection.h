#pragma once
// The one seam between the results store and a database engine: a connection that runs
// statements with `?` placeholders bound to values (never values pasted into SQL), reads rows back
// typed, and knows its engine's few differences. The store (results_store.cpp) is written once
// against it; SQLite (sql_sqlite.cpp) and PostgreSQL through libpq (sql_postgres.cpp) implement it.
//
// What differs between the two, and where it is decided:
//   - column types of the schema: `{id}`, `{int}` and `{real}` in results_schema.h, rendered by
//     render_sql (SQLite: INTEGER PRIMARY KEY, INTEGER, REAL; PostgreSQL: BIGINT identity, BIGINT,
//     DOUBLE PRECISION: PostgreSQL's INTEGER is 32-bit and its REAL single precision);
//   - a case-insensitive LIKE: `{like}` (SQLite's LIKE is; PostgreSQL's ILIKE);
//   - placeholders: `?` here, `$1, $2, ...` for libpq (sql_postgres.cpp rewrites them);
//   - the list of tables (sqlite_master; information_schema of the current schema);
//   - a write transaction that serializes writers (SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN and
//     a transaction-level advisory lock).
// The rest (ON CONFLICT DO NOTHING, RETURNING id, LIKE ... ESCAPE, LIMIT) is SQL both engines speak.
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace ia::benchmarks {

enum class SqlDialect { Sqlite, Postgres };

using SqlValue = std::variant<int64_t, double, std::string>;

// The rows of one statement, read in order.
class SqlRows {
 public:
  virtual ~SqlRows() = default;
  // Moves to the next row; false after the last.
  virtual bool next() = 0;
  virtual std::string text(int col) const = 0;
  virtual int64_t integer(int col) const = 0;
  virtual double real(int col) const = 0;
};

class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  virtual SqlDialect dialect() const = 0;
  // Where the database is, as messages name it: the file, or the URL without its password.
  virtual const std::string& location() const = 0;
  // Statements that take no values (the schema's migrations), several separated by ';'; `sql` is
  // rendered for the dialect first.
  virtual void exec_script(const std::string& sql) = 0;
  // One statement with `?` placeholders bound to `values` in order (rendered first); its rows.
  virtual std::unique_ptr<SqlRows> query(const std::string& sql, const std::vector<SqlValue>& values = {}) = 0;
  // The names of the tables in the database (PostgreSQL: in its current schema).
  virtual std::vector<std::string> tables() = 0;
  // A transaction no other writer of the same database runs beside (they wait for it).
  virtual void begin_write() = 0;
  virtual void commit() = 0;
  // Never throws: used while another error is on its way out.
  virtual void rollback() noexcept = 0;
};

// True for postgresql:// and postgres:// URLs.
bool is_postgres_url(const std::string& location);

// The URL with its password (user:PASSWORD@, ?password=...) left out, for messages and output.
std::string redact_postgres_url(const std::string& url);

// A SQLite file (created with its folder) or a PostgreSQL URL. Unavailable, in one line naming the
// location without its password, when it cannot be opened or reached.
std::unique_ptr<SqlConnection> open_sql_connection(const std::string& location);

// `sql` with the dialect tokens ({id}, {int}, {real}, {like}) replaced.
std::string render_sql(const std::string& sql, SqlDialect dialect);

}  // namespace ia::benchmarks
