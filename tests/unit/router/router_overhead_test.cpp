// The router's own cost per request (issue 17's benchmark: a local deployment through the router
// against the same call made directly; target < 1 ms at p99). A routed name whose chain is a
// local deployment (answered by a stub engine that returns at once) then a remote one that is
// never reached: Router::chat plans the chain (breakers, priority, strategy), runs the local
// deployment through its guard and books the result, against the stub called directly. Both are
// timed per call, interleaved, after a warm-up; the percentiles are printed (docs/performance.md
// keeps the figures). Only the median is asserted: a p99 on two cores shared with builds measures
// the scheduler.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "router/deployment_router.h"

namespace ia::router {
namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

TEST(RouterOverhead, LocalDeploymentThroughTheRouterAgainstDirect) {
  const nlohmann::json config = {
      {"providers", {{"remote", {{"type", "vllm"}, {"base_url", "http://127.0.0.1:9/v1"}}}}},
      {"models",
       {{"chat",
         {{"strategy", "ordered"},
          {"deployments", {{{"local", "tiny"}}, {{"provider", "remote"}, {"model", "m"}}}}}}}}};
  Router router(config, [](const std::string&) { return std::optional<std::string>(); });
  providers::ChatCall call;
  call.model = "chat";
  call.messages = {{"user", "Hello!"}};
  size_t engine_calls = 0;
  // The stub engine: what a local deployment would answer, at no cost.
  auto engine = [&](const std::string& model, const providers::OnText&) {
    ++engine_calls;
    providers::TextResult r;
    r.text = "Hello world";
    r.model = model;
    r.finish_reason = "stop";
    return r;
  };
  const Router::LocalChat local = [&](const Deployment& d, const providers::OnText& on_text) {
    return engine(d.model, on_text);
  };
  constexpr int kWarmup = 2000, kCalls = 20000;
  std::vector<double> routed, direct;
  routed.reserve(kCalls);
  direct.reserve(kCalls);
  std::string answered_by;
  for (int i = 0; i < kWarmup + kCalls; ++i) {
    const auto t0 = Clock::now();
    const providers::TextResult a =
        router.chat("chat", call, nullptr, providers::Priority::Normal, local, &answered_by);
    const auto t1 = Clock::now();
    const providers::TextResult b = engine("tiny", nullptr);
    const auto t2 = Clock::now();
    ASSERT_EQ(a.text, b.text);
    if (i < kWarmup) continue;
    routed.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    direct.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
  }
  EXPECT_EQ(answered_by, "local:tiny");
  EXPECT_EQ(engine_calls, static_cast<size_t>(2 * (kWarmup + kCalls)));
  std::vector<double> overhead(routed.size());
  for (size_t i = 0; i < routed.size(); ++i) overhead[i] = routed[i] - direct[i];
  std::printf(
      "router overhead per request over %d calls (us): routed p50 %.2f p99 %.2f | direct p50 %.2f p99 %.2f | "
      "overhead p50 %.2f p99 %.2f\n",
      kCalls, percentile(routed, 0.5), percentile(routed, 0.99), percentile(direct, 0.5), percentile(direct, 0.99),
      percentile(overhead, 0.5), percentile(overhead, 0.99));
  EXPECT_LT(percentile(overhead, 0.5), 1000.0) << "the router's median cost per request is over 1 ms";
}

}  // namespace
}  // namespace ia::router
