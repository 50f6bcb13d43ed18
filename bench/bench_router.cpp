// The router's own cost per request (issue 17's benchmark: a local deployment through the router
// against the same call made directly; target < 1 ms at p99). A routed name whose chain is a
// local deployment — answered by a stub engine that returns at once, so only the router is
// measured — then a remote one that is never reached: Router::chat plans the chain (breakers,
// priority, strategy), runs the local deployment through its guard and books the result
// (counters, latency, breaker). Each iteration times one routed call and one direct call of the
// stub; the counters give their p50 / p99 and the p50 / p99 of the difference, in microseconds.
#include <algorithm>
#include <chrono>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "router/deployment_router.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace ia;

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

void BM_RouterLocalDeploymentOverhead(benchmark::State& state) {
  const nlohmann::json config = {
      {"providers", {{"remote", {{"type", "vllm"}, {"base_url", "http://127.0.0.1:9/v1"}}}}},
      {"models",
       {{"chat",
         {{"strategy", state.range(0) == 0 ? "ordered" : "least_busy"},
          {"deployments", {{{"local", "tiny"}}, {{"provider", "remote"}, {"model", "m"}, {"priority", 1}}}}}}}}};
  router::Router r(config, [](const std::string&) { return std::optional<std::string>(); });
  providers::ChatCall call;
  call.model = "chat";
  call.messages = {{"user", "Hello!"}};
  auto engine = [](const std::string& model) {
    providers::TextResult t;
    t.text = "Hello world";
    t.model = model;
    t.finish_reason = "stop";
    return t;
  };
  const router::Router::LocalChat local = [&](const router::Deployment& d, const providers::OnText&) {
    return engine(d.model);
  };
  std::vector<double> routed, direct, overhead;
  std::string answered_by;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    providers::TextResult a = r.chat("chat", call, nullptr, providers::Priority::Normal, local, &answered_by);
    const auto t1 = Clock::now();
    providers::TextResult b = engine("tiny");
    const auto t2 = Clock::now();
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
    routed.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    direct.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
    overhead.push_back(routed.back() - direct.back());
  }
  if (answered_by != "local:tiny") state.SkipWithError(("answered by " + answered_by).c_str());
  state.counters["routed_p50_us"] = percentile(routed, 0.5);
  state.counters["routed_p99_us"] = percentile(routed, 0.99);
  state.counters["direct_p50_us"] = percentile(direct, 0.5);
  state.counters["direct_p99_us"] = percentile(direct, 0.99);
  state.counters["overhead_p50_us"] = percentile(overhead, 0.5);
  state.counters["overhead_p99_us"] = percentile(overhead, 0.99);
}
// 0: strategy "ordered"; 1: "least_busy" (the chain sorted by load on every request).
BENCHMARK(BM_RouterLocalDeploymentOverhead)->Arg(0)->Arg(1)->Iterations(50000);

}  // namespace

BENCHMARK_MAIN();
