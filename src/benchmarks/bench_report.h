#pragma once
// Benchmark results for people: the table `bench` prints (a Markdown pipe table, as llama-bench
// prints), a Markdown report, and one self-contained HTML file with inline SVG charts (throughput
// against batch size per device, the latency spread of every case, fractions of the machine's
// ceilings) that opens in a browser with no network: no script, font, style sheet or image is
// fetched. Every string from a result is escaped (results may come from another machine's file).
#include <string>
#include <vector>

#include "benchmarks/bench_result.h"

namespace ia::benchmarks {

// "12.3 GB/s copy, 456.7 GFLOP/s bf16 GEMM on cpu (AMD EPYC)"; "" without ceilings.
std::string ceilings_text(const BenchResult& r);

// One row per result: model, params, dtype, device, case, min / median / p90 ms, throughput and
// the fractions of the ceilings ("-" where one does not apply); where any result is a server's
// load, also requests/s, TTFT and ITL p50 / p90 and the errors ("3 of 40: the first's message").
std::string results_table(const std::vector<BenchResult>& results);

// The latest result of each case, grouped by model, each group a table, with the machines and
// builds they came from.
std::string markdown_report(const std::vector<BenchResult>& results);
std::string html_report(const std::vector<BenchResult>& results, const std::string& title);

}  // namespace ia::benchmarks
