#include "server/metrics_registry.h"

#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace ia::server {

namespace {

// A label value escaped as the text format wants: backslash, double quote and newline.
std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string render_labels(const MetricsRegistry::Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ',';
    out += k + "=\"" + escape_label(v) + "\"";
  }
  return out;
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

std::string with_labels(const std::string& name, const std::string& labels) {
  return labels.empty() ? name : name + "{" + labels + "}";
}

}  // namespace

void MetricsRegistry::declare_counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  families_[name] = Family{Type::Counter, help, {}, {}};
}

void MetricsRegistry::declare_gauge(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  families_[name] = Family{Type::Gauge, help, {}, {}};
}

void MetricsRegistry::declare_histogram(const std::string& name, const std::string& help, std::vector<double> buckets) {
  std::lock_guard lock(mu_);
  families_[name] = Family{Type::Histogram, help, std::move(buckets), {}};
}

MetricsRegistry::Series& MetricsRegistry::series(const std::string& name, const Labels& labels, Type type) {
  auto it = families_.find(name);
  IA_CHECK(it != families_.end() && it->second.type == type, "metrics: {} is not declared as used", name);
  Series& s = it->second.series[render_labels(labels)];
  if (type == Type::Histogram && s.below.empty()) s.below.assign(it->second.buckets.size(), 0);
  return s;
}

void MetricsRegistry::add(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  series(name, labels, Type::Counter).value += value;
}

void MetricsRegistry::set(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  series(name, labels, Type::Gauge).value = value;
}

void MetricsRegistry::observe(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  Series& s = series(name, labels, Type::Histogram);
  const std::vector<double>& bounds = families_.at(name).buckets;
  for (size_t i = 0; i < bounds.size(); ++i)
    if (value <= bounds[i]) ++s.below[i];
  s.value += value;
  ++s.count;
}

double MetricsRegistry::value(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto s = it->second.series.find(render_labels(labels));
  return s == it->second.series.end() ? 0 : s->second.value;
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.type == Type::Counter ? "counter" : f.type == Type::Gauge ? "gauge" : "histogram";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, type);
    for (const auto& [labels, s] : f.series) {
      if (f.type != Type::Histogram) {
        out += with_labels(name, labels) + " " + number(s.value) + "\n";
        continue;
      }
      const std::string sep = labels.empty() ? "" : ",";
      for (size_t i = 0; i < f.buckets.size(); ++i)
        out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, number(f.buckets[i]), s.below[i]);
      out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, s.count);
      out += with_labels(name + "_sum", labels) + " " + number(s.value) + "\n";
      out += with_labels(name + "_count", labels) + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

std::vector<double> MetricsRegistry::latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

}  // namespace ia::server
