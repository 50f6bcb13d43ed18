#include "ops/op_timer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ia::ops {
namespace {

struct Totals {
  std::mutex mu;
  std::map<std::string, std::pair<int64_t, int64_t>> by_name;  // name -> (calls, ns)
};

Totals& totals() {
  static Totals* t = new Totals();  // never destroyed: ops may run during static destruction
  return *t;
}

}  // namespace

bool op_times_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("IA_OP_TIMES");
    const bool enabled = v && *v && std::strcmp(v, "0") != 0;
    if (enabled) std::atexit(print_op_times);
    return enabled;
  }();
  return on;
}

void record_op_time(const char* name, int64_t ns) {
  Totals& t = totals();
  std::lock_guard<std::mutex> lock(t.mu);
  auto& e = t.by_name[name];
  e.first += 1;
  e.second += ns;
}

void print_op_times() {
  Totals& t = totals();
  std::lock_guard<std::mutex> lock(t.mu);
  if (t.by_name.empty()) return;
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> rows(t.by_name.begin(), t.by_name.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.second > b.second.second; });
  int64_t all = 0;
  for (const auto& r : rows) all += r.second.second;
  std::fprintf(stderr, "op times (IA_OP_TIMES):\n%-22s %10s %12s %7s\n", "op", "calls", "total ms", "share");
  for (const auto& [name, e] : rows)
    std::fprintf(stderr, "%-22s %10lld %12.2f %6.1f%%\n", name.c_str(), static_cast<long long>(e.first), e.second / 1e6,
                 all ? 100.0 * static_cast<double>(e.second) / static_cast<double>(all) : 0.0);
  t.by_name.clear();
}

}  // namespace ia::ops
