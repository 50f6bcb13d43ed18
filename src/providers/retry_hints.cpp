#include "providers/retry_hints.h"
#include "providers/json_fields.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

namespace ia::providers {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A non-negative decimal number ("12", "1.5", ".5"); nullopt for anything else.
std::optional<double> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 32) return std::nullopt;
  bool digits = false, dot = false;
  for (char c : s) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      return std::nullopt;
    }
  }
  if (!digits) return std::nullopt;
  return std::strtod(std::string(s).c_str(), nullptr);
}

std::optional<Millis> from_seconds(double s) {
  if (!std::isfinite(s) || s < 0) return std::nullopt;
  if (s > 1e9) s = 1e9;  // a century is as good as forever, and does not overflow
  return Millis(static_cast<int64_t>(std::llround(s * 1000)));
}

Millis until(std::chrono::system_clock::time_point t, std::chrono::system_clock::time_point now) {
  const auto d = std::chrono::duration_cast<Millis>(t - now);
  return d.count() < 0 ? Millis(0) : d;
}

int month_index(std::string_view m) {
  static const char* names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i)
    if (m == names[i]) return i;
  return -1;
}

std::optional<std::chrono::system_clock::time_point> make_utc(int year, int mon, int day, int h, int m, int s) {
  if (mon < 0 || mon > 11 || day < 1 || day > 31 || h > 23 || m > 59 || s > 60 || year < 1970 || year > 9999)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = day;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  const time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view value) {
  const std::string v(trim(value));
  if (v.size() > 64) return std::nullopt;
  char wday[16] = {}, mon[8] = {}, tz[8] = {};
  int day = 0, year = 0, h = 0, m = 0, s = 0, n = 0;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (std::sscanf(v.c_str(), "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wday, &day, mon, &year, &h, &m, &s, tz, &n) == 8 &&
      static_cast<size_t>(n) == v.size() && std::strcmp(tz, "GMT") == 0)
    return make_utc(year, month_index(mon), day, h, m, s);
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (two-digit years: RFC 9110 says within 50 years)
  n = 0;
  if (std::sscanf(v.c_str(), "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d %3s%n", wday, &day, mon, &year, &h, &m, &s, tz,
                  &n) == 8 &&
      static_cast<size_t>(n) == v.size() && std::strcmp(tz, "GMT") == 0)
    return make_utc(year + (year < 70 ? 2000 : 1900), month_index(mon), day, h, m, s);
  // asctime: "Sun Nov  6 08:49:37 1994"
  n = 0;
  if (std::sscanf(v.c_str(), "%3s %3s %d %2d:%2d:%2d %4d%n", wday, mon, &day, &h, &m, &s, &year, &n) == 7 &&
      static_cast<size_t>(n) == v.size())
    return make_utc(year, month_index(mon), day, h, m, s);
  return std::nullopt;
}

std::optional<Millis> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  const std::string_view v = trim(value);
  if (auto s = parse_decimal(v)) return from_seconds(*s);
  if (auto t = parse_http_date(v)) return until(*t, now);
  return std::nullopt;
}

std::optional<Millis> parse_retry_after_ms(std::string_view value) {
  if (auto ms = parse_decimal(trim(value))) return from_seconds(*ms / 1000);
  return std::nullopt;
}

std::optional<Millis> parse_go_duration(std::string_view value) {
  std::string_view v = trim(value);
  if (v.empty() || v.size() > 64) return std::nullopt;
  if (v == "0") return Millis(0);
  double total_s = 0;
  while (!v.empty()) {
    size_t i = 0;
    while (i < v.size() && (std::isdigit(static_cast<unsigned char>(v[i])) || v[i] == '.')) ++i;
    const auto number = parse_decimal(v.substr(0, i));
    if (!number) return std::nullopt;
    v.remove_prefix(i);
    size_t u = 0;
    while (u < v.size() && std::isalpha(static_cast<unsigned char>(v[u]))) ++u;
    const std::string_view unit = v.substr(0, u);
    v.remove_prefix(u);
    double scale = 0;
    if (unit == "h")
      scale = 3600;
    else if (unit == "m")
      scale = 60;
    else if (unit == "s")
      scale = 1;
    else if (unit == "ms")
      scale = 1e-3;
    else if (unit == "us" || unit == "µs")
      scale = 1e-6;
    else if (unit == "ns")
      scale = 1e-9;
    else
      return std::nullopt;
    total_s += *number * scale;
  }
  return from_seconds(total_s);
}

std::optional<Millis> parse_rfc3339_delay(std::string_view value, std::chrono::system_clock::time_point now) {
  const std::string v(trim(value));
  int year = 0, mon = 0, day = 0, h = 0, m = 0, n = 0;
  double s = 0;
  if (v.size() > 40 || std::sscanf(v.c_str(), "%4d-%2d-%2dT%2d:%2d:%lf%n", &year, &mon, &day, &h, &m, &s, &n) != 6)
    return std::nullopt;
  std::string_view rest = std::string_view(v).substr(static_cast<size_t>(n));
  int offset_s = 0;
  if (rest == "Z" || rest == "z") {
    offset_s = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset_s = (rest[0] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  if (!(s >= 0 && s < 61)) return std::nullopt;
  auto t = make_utc(year, mon - 1, day, h, m, 0);
  if (!t) return std::nullopt;
  const auto instant =
      *t + std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(s - offset_s));
  return until(instant, now);
}

std::optional<Millis> retry_hint_from_headers(const std::map<std::string, std::string>& headers,
                                              std::chrono::system_clock::time_point now) {
  if (auto it = headers.find("retry-after-ms"); it != headers.end())
    if (auto d = parse_retry_after_ms(it->second)) return d;
  if (auto it = headers.find("retry-after"); it != headers.end()) return parse_retry_after(it->second, now);
  return std::nullopt;
}

std::optional<Millis> gemini_retry_delay(const std::string& error_body) {
  const auto j = nlohmann::json::parse(error_body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return std::nullopt;
  const auto& e = j["error"];
  if (!e.contains("details") || !e["details"].is_array()) return std::nullopt;
  for (const auto& d : e["details"]) {
    if (!d.is_object()) continue;
    const auto type = field_or(d, "@type", std::string());
    if (type.find("google.rpc.RetryInfo") == std::string::npos) continue;
    if (auto it = d.find("retryDelay"); it != d.end() && it->is_string())
      return parse_go_duration(it->get<std::string>());
  }
  return std::nullopt;
}

}  // namespace ia::providers
