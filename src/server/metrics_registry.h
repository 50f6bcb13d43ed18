#pragma once
// Counters, gauges and histograms by label values, rendered in Prometheus'
// text exposition format (version 0.0.4) for GET /metrics. Families are
// declared once with their help text; series appear as label values are used.
// Label values come from the server (route patterns, statuses, model names),
// never from raw request paths, so the number of series stays bounded.
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ia::server {

class MetricsRegistry {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  void declare_counter(const std::string& name, const std::string& help);
  void declare_gauge(const std::string& name, const std::string& help);
  void declare_histogram(const std::string& name, const std::string& help, std::vector<double> buckets);

  void add(const std::string& name, const Labels& labels, double value = 1);  // counter
  void set(const std::string& name, const Labels& labels, double value);      // gauge
  void observe(const std::string& name, const Labels& labels, double value);  // histogram
  // A counter's or gauge's current value (0 when the series does not exist yet); for tests and logs.
  double value(const std::string& name, const Labels& labels) const;

  std::string render() const;

  // Bucket bounds in seconds for request phases: 1 ms to 60 s.
  static std::vector<double> latency_buckets();

 private:
  enum class Type { Counter, Gauge, Histogram };
  struct Series {
    double value = 0;             // counter, gauge; the sum for a histogram
    uint64_t count = 0;           // histogram
    std::vector<uint64_t> below;  // histogram: observations <= each bound
  };
  struct Family {
    Type type = Type::Counter;
    std::string help;
    std::vector<double> buckets;
    std::map<std::string, Series> series;  // by rendered labels
  };
  Series& series(const std::string& name, const Labels& labels, Type type);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace ia::server
