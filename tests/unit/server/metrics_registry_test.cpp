#include "server/metrics_registry.h"

#include <gtest/gtest.h>

namespace ia::server {
namespace {

TEST(MetricsRegistry, PrometheusTextFormat) {
  MetricsRegistry m;
  m.declare_counter("requests_total", "Requests.");
  m.declare_gauge("waiting", "Waiting.");
  m.declare_histogram("latency_seconds", "Latency.", {0.1, 1});
  m.add("requests_total", {{"route", "/v1/x"}, {"status", "200"}});
  m.add("requests_total", {{"route", "/v1/x"}, {"status", "200"}}, 2);
  m.add("requests_total", {{"route", "a\"b\\c\nd"}, {"status", "500"}});
  m.set("waiting", {{"model", "m"}}, 3);
  m.observe("latency_seconds", {{"model", "m"}}, 0.05);
  m.observe("latency_seconds", {{"model", "m"}}, 0.5);
  m.observe("latency_seconds", {{"model", "m"}}, 5);
  EXPECT_EQ(m.value("requests_total", {{"route", "/v1/x"}, {"status", "200"}}), 3);
  const std::string text = m.render();
  EXPECT_NE(text.find("# HELP requests_total Requests.\n# TYPE requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("requests_total{route=\"/v1/x\",status=\"200\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("requests_total{route=\"a\\\"b\\\\c\\nd\",status=\"500\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("waiting{model=\"m\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_bucket{model=\"m\",le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_bucket{model=\"m\",le=\"1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_sum{model=\"m\"} 5.55\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_count{model=\"m\"} 3\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace ia::server
