// SqlConnection over a PostgreSQL server through libpq. Every value goes through PQexecParams as
// a parameter (text, with its type: int8, float8 or text); statements without values (the
// schema's migrations, transaction control) through PQexec. The password of the URL never appears
// in a message or in location(): the URL is shown without it, and libpq's messages (which can
// quote a malformed part of the URL) have it replaced.
#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <string_view>

#include <fmt/format.h>

#include "benchmarks/sql_connection.h"
#include "core/error.h"

namespace ia::benchmarks {

namespace {

// pg_type OIDs of the parameter types (fixed in PostgreSQL's catalog).
constexpr Oid kInt8Oid = 20, kTextOid = 25, kFloat8Oid = 701;
// The advisory lock every writer of a results database takes for its transaction ("ia_bench").
constexpr int64_t kWriteLockKey = 0x69615f62656e6368;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The parts of a URL: "scheme://", the authority's user info (before its last '@'), and the query
// parameters; enough to find and hide the password, whatever libpq thinks of the rest.
struct UrlParts {
  std::string scheme, userinfo, hostpart, path, query;
  bool has_userinfo = false;
};

UrlParts split_url(const std::string& url) {
  UrlParts p;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    p.hostpart = url;
    return p;
  }
  p.scheme = url.substr(0, scheme_end + 3);
  const size_t auth_begin = scheme_end + 3;
  const size_t auth_end = std::min(url.find_first_of("/?", auth_begin), url.size());
  const std::string authority = url.substr(auth_begin, auth_end - auth_begin);
  const size_t at = authority.rfind('@');
  if (at != std::string::npos) {
    p.has_userinfo = true;
    p.userinfo = authority.substr(0, at);
    p.hostpart = authority.substr(at + 1);
  } else {
    p.hostpart = authority;
  }
  const size_t q = url.find('?', auth_end);
  p.path = url.substr(auth_end, (q == std::string::npos ? url.size() : q) - auth_end);
  if (q != std::string::npos) p.query = url.substr(q + 1);
  return p;
}

// Every form in which the URL's password could be quoted back: as written and percent-decoded.
std::vector<std::string> url_secrets(const std::string& url) {
  const UrlParts p = split_url(url);
  std::vector<std::string> raw;
  if (const size_t colon = p.userinfo.find(':'); p.has_userinfo && colon != std::string::npos)
    raw.push_back(p.userinfo.substr(colon + 1));
  for (size_t begin = 0; begin <= p.query.size();) {
    const size_t end = std::min(p.query.find('&', begin), p.query.size());
    const std::string param = p.query.substr(begin, end - begin);
    if (param.rfind("password=", 0) == 0) raw.push_back(param.substr(9));
    begin = end + 1;
  }
  std::vector<std::string> out;
  for (const std::string& s : raw) {
    if (!s.empty()) out.push_back(s);
    if (const std::string d = percent_decoded(s); !d.empty() && d != s) out.push_back(d);
  }
  // The longest first, so that a secret containing another is hidden whole.
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return out;
}

std::string hide(std::string message, const std::vector<std::string>& secrets) {
  for (const std::string& s : secrets)
    for (size_t at = message.find(s); at != std::string::npos; at = message.find(s, at + 3))
      message.replace(at, s.size(), "***");
  return message;
}

// libpq's messages end in a newline and continue on tab-indented lines: one line instead.
std::string one_line(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// SQLSTATE classes: bad data (22) or a constraint (23) is the input's; a statement the server
// cannot run as written (42: syntax, undefined table or column) is this code's or a foreign
// database's; the rest (connection, resources, locks, shutdown) is the server's state.
ErrorKind kind_of(const char* sqlstate) {
  const std::string_view s = sqlstate ? sqlstate : "";
  if (s.rfind("22", 0) == 0 || s.rfind("23", 0) == 0) return ErrorKind::InvalidArgument;
  if (s.rfind("42", 0) == 0) return ErrorKind::Internal;
  return ErrorKind::Unavailable;
}

// `?` placeholders as libpq's `$1, $2, ...`, outside quoted literals and identifiers.
std::string numbered_placeholders(const std::string& sql, size_t values, const std::string& where) {
  std::string out;
  size_t n = 0;
  char quote = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      out += fmt::format("${}", ++n);
    } else {
      out += c;
    }
  }
  if (n != values) fail(ErrorKind::Internal, "{}: a statement has {} placeholders for {} values", where, n, values);
  return out;
}

class PostgresRows : public SqlRows {
 public:
  PostgresRows(PGresult* result, const std::string& where) : result_(result), rows_(PQntuples(result)), where_(where) {}
  ~PostgresRows() override { PQclear(result_); }
  PostgresRows(const PostgresRows&) = delete;
  PostgresRows& operator=(const PostgresRows&) = delete;

  bool next() override { return ++row_ < rows_; }
  std::string text(int col) const override {
    return std::string(PQgetvalue(result_, row_, col), static_cast<size_t>(PQgetlength(result_, row_, col)));
  }
  int64_t integer(int col) const override { return number<int64_t>(col); }
  double real(int col) const override { return number<double>(col); }

 private:
  template <class T>
  T number(int col) const {
    if (PQgetisnull(result_, row_, col)) return T{};
    const char* text = PQgetvalue(result_, row_, col);
    const char* end = text + PQgetlength(result_, row_, col);
    T value{};
    const auto [ptr, ec] = std::from_chars(text, end, value);
    if (ec != std::errc() || ptr != end)
      fail(ErrorKind::Internal, "{}: column {} holds \"{}\", not a number", where_, col, text);
    return value;
  }

  PGresult* result_;
  int rows_, row_ = -1;
  std::string where_;
};

class PostgresConnection : public SqlConnection {
 public:
  explicit PostgresConnection(const std::string& url)
      : location_(redact_postgres_url(url)), secrets_(url_secrets(url)) {
    char* parse_error = nullptr;
    if (PQconninfoOption* options = PQconninfoParse(url.c_str(), &parse_error)) {
      PQconninfoFree(options);
    } else {
      const std::string why = parse_error ? one_line(parse_error) : "out of memory";
      PQfreemem(parse_error);
      fail(ErrorKind::InvalidArgument, "{}: not a valid PostgreSQL URL: {}", location_, hide(why, secrets_));
    }
    // The URL's own settings come after these defaults (dbname is expanded last), so they win.
    const char* const keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname", nullptr};
    const char* const values[] = {"10", "ipfs-accelerate", "UTF8", url.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      const std::string why = conn_ ? one_line(PQerrorMessage(conn_)) : "out of memory";
      PQfinish(conn_);
      fail(ErrorKind::Unavailable, "{}: cannot connect to the results database: {}", location_, hide(why, secrets_));
    }
    // NOTICEs (an index already there, ...) would go to stderr: they are not errors.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    // Doubles printed so they read back exactly (the default of PostgreSQL 12+, which a server's
    // configuration may change).
    exec_script("SET extra_float_digits = 3");
  }
  ~PostgresConnection() override { PQfinish(conn_); }
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  SqlDialect dialect() const override { return SqlDialect::Postgres; }
  const std::string& location() const override { return location_; }

  void exec_script(const std::string& sql) override {
    check(PQexec(conn_, render_sql(sql, SqlDialect::Postgres).c_str()));
  }

  std::unique_ptr<SqlRows> query(const std::string& sql, const std::vector<SqlValue>& values) override {
    const std::string text = numbered_placeholders(render_sql(sql, SqlDialect::Postgres), values.size(), location_);
    std::vector<std::string> held;
    held.reserve(values.size());
    std::vector<Oid> types;
    for (const SqlValue& v : values) {
      if (const auto* s = std::get_if<std::string>(&v)) {
        if (s->find('\0') != std::string::npos)
          fail(ErrorKind::InvalidArgument, "{}: a text value holds a NUL character, which PostgreSQL cannot store",
               location_);
        held.push_back(*s);
        types.push_back(kTextOid);
      } else if (const auto* n = std::get_if<int64_t>(&v)) {
        held.push_back(fmt::format("{}", *n));
        types.push_back(kInt8Oid);
      } else {
        held.push_back(fmt::format("{}", std::get<double>(v)));  // the shortest text that reads back exactly
        types.push_back(kFloat8Oid);
      }
    }
    std::vector<const char*> params;
    for (const std::string& h : held) params.push_back(h.c_str());
    PGresult* result = PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()), types.data(), params.data(),
                                    nullptr, nullptr, 0);
    check_status(result);
    return std::make_unique<PostgresRows>(result, location_);
  }

  std::vector<std::string> tables() override {
    std::vector<std::string> out;
    for (auto rows = query("SELECT c.relname FROM pg_catalog.pg_class c "
                           "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')",
                           {});
         rows->next();)
      out.push_back(rows->text(0));
    return out;
  }

  void begin_write() override {
    exec_script("BEGIN");
    try {
      query("SELECT pg_advisory_xact_lock(?)", {kWriteLockKey});
    } catch (...) {
      rollback();
      throw;
    }
  }
  void commit() override { exec_script("COMMIT"); }
  void rollback() noexcept override { PQclear(PQexec(conn_, "ROLLBACK")); }

 private:
  void check(PGresult* result) { PQclear(check_status(result)); }

  // The result when it succeeded; otherwise it is cleared and the error thrown.
  PGresult* check_status(PGresult* result) {
    const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
    std::string why;
    ErrorKind kind = ErrorKind::Unavailable;
    if (result && PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)) {
      why = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
      if (const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)) why += fmt::format(" ({})", detail);
      kind = kind_of(PQresultErrorField(result, PG_DIAG_SQLSTATE));
    } else {
      why = PQerrorMessage(conn_);  // no result: the connection's trouble
    }
    PQclear(result);
    fail(kind, "{}: {}", location_, hide(one_line(why), secrets_));
  }

  std::string location_;
  std::vector<std::string> secrets_;
  PGconn* conn_ = nullptr;
};

}  // namespace

std::string redact_postgres_url(const std::string& url) {
  const UrlParts p = split_url(url);
  if (p.scheme.empty()) return url.empty() ? url : "(a PostgreSQL URL)";
  std::string out = p.scheme;
  if (p.has_userinfo) {
    const size_t colon = p.userinfo.find(':');
    out += colon == std::string::npos ? p.userinfo : p.userinfo.substr(0, colon) + ":***";
    out += '@';
  }
  out += p.hostpart + p.path;
  if (!p.query.empty()) {
    std::string query;
    for (size_t begin = 0; begin <= p.query.size();) {
      const size_t end = std::min(p.query.find('&', begin), p.query.size());
      const std::string param = p.query.substr(begin, end - begin);
      query += (query.empty() ? "" : "&") + (param.rfind("password=", 0) == 0 ? std::string("password=***") : param);
      begin = end + 1;
    }
    out += "?" + query;
  }
  return out;
}

std::unique_ptr<SqlConnection> open_postgres_connection(const std::string& url) {
  return std::make_unique<PostgresConnection>(url);
}

}  // namespace ia::benchmarks
