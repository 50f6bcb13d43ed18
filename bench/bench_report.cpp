// The bound: "the report for 10,000 results renders in under a second". Times the HTML
// report (every chart and the table) of 10,000 results made up as the report tests make them
// (tests/unit/benchmarks/seed_results.h: 50 models, 2 devices, 7 runs), the Markdown report, and
// what `bench report --format html` does end to end: the results read back from a SQLite
// database, then the HTML. docs/benchmarks.md has the figures.
#include <benchmark/benchmark.h>

#include "benchmarks/bench_report.h"
#include "benchmarks/results_store.h"
#include "unit/benchmarks/seed_results.h"

namespace {

using namespace ia::benchmarks;

void BM_HtmlReport(benchmark::State& state) {
  const std::vector<BenchResult> results = test::many_results(static_cast<int>(state.range(0)));
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string html = html_report(results, "benchmarks");
    bytes = html.size();
    benchmark::DoNotOptimize(html.data());
  }
  state.counters["results"] = static_cast<double>(results.size());
  state.counters["html_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_HtmlReport)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_MarkdownReport(benchmark::State& state) {
  const std::vector<BenchResult> results = test::many_results(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    const std::string md = markdown_report(results);
    benchmark::DoNotOptimize(md.data());
  }
}
BENCHMARK(BM_MarkdownReport)->Arg(10000)->Unit(benchmark::kMillisecond);

// `bench report --format html` over a database holding 10,000 results: select, then render.
void BM_HtmlReportFromSqlite(benchmark::State& state) {
  test::TempDir dir;
  const std::string db = dir.file("bench.sqlite");
  open_results_store(db)->insert(test::many_results(static_cast<int>(state.range(0))));
  for (auto _ : state) {
    const std::vector<BenchResult> results = open_results_store(db)->select({});
    const std::string html = html_report(results, "benchmarks");
    benchmark::DoNotOptimize(html.data());
  }
}
BENCHMARK(BM_HtmlReportFromSqlite)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
