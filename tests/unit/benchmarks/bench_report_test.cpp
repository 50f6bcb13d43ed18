// The reports: tables, and the HTML file's charts (SVG elements that carry the data), escaping,
// no network reference, and a report of 10,000 results.
#include "benchmarks/bench_report.h"

#include <gtest/gtest.h>

#include <regex>

#include "seed_results.h"
#include "svg_bounds.h"

namespace ia::benchmarks {
namespace {

using test::Seed;
using test::seeded;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::vector<BenchResult> two_devices() {
  std::vector<BenchResult> rs;
  for (int64_t b : {1, 8, 32}) {
    Seed cpu, gpu;
    cpu.batch = gpu.batch = b;
    cpu.median_ms = 1.0 * static_cast<double>(b);
    gpu.device = "cuda:0";
    gpu.gpu = "NVIDIA H100";
    gpu.run = "run-gpu";
    gpu.median_ms = 0.5 + 0.01 * static_cast<double>(b);
    rs.push_back(seeded(cpu));
    rs.push_back(seeded(gpu));
  }
  Seed decode;
  decode.model = "llama-tiny";
  decode.suite = "decode";
  decode.new_tokens = 16;
  BenchResult d = seeded(decode);
  d.measurement.of_gemm = 0;
  d.measurement.of_copy = 0.6;
  rs.push_back(d);
  return rs;
}

TEST(BenchReport, TableHasOneRowPerResult) {
  const std::string t = results_table(two_devices());
  EXPECT_EQ(count(t, "\n"), 2u + 7u);
  EXPECT_NE(t.find("| bert-tiny | 4.00M | f32 | cpu | embed b8 s64 | 7.20 | 8.00 | 9.60 | 1000.0 seq/s | 0.250 | - |"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("decode b8 p64 n16"), std::string::npos);
}

// A server's load adds its request columns; a row with failed requests says so.
TEST(BenchReport, ServerLoadRowsShowTheirRequests) {
  std::vector<BenchResult> rs = two_devices();
  EXPECT_EQ(results_table(rs).find("TTFT"), std::string::npos);  // none: the table as it was
  Seed load;
  load.model = "llama-tiny";
  load.batch = 4;
  load.seq_len = 16;
  rs.push_back(test::with_requests(seeded(load)));
  BenchResult clean = test::with_requests(seeded(load));
  clean.params.batch = 8;
  clean.measurement.errors = 0;
  clean.measurement.error.clear();
  rs.push_back(clean);
  const std::string t = results_table(rs);
  EXPECT_EQ(t.rfind("| model | params | dtype | device | case | min ms | median ms | p90 ms | throughput | of GEMM | "
                    "of copy | req/s | TTFT p50 ms | TTFT p90 ms | ITL p50 ms | ITL p90 ms | errors |\n",
                    0),
            0u)
      << t;
  EXPECT_NE(t.find("| server-load c4 p16 n16 | 9.00 | 10.00 | 12.00 | 400.0 tok/s | 0.250 | - | 123.25 | 2.25 | 4.00 | "
                   "0.500 | 0.750 | 3 of 40: HTTP 429: {\"error\": \"queue full\"} |"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("| server-load c8 p16 n16 |"), std::string::npos) << t;
  EXPECT_NE(t.find("| 0 |\n"), std::string::npos) << t;
  EXPECT_NE(t.find("| embed b8 s64 | 7.20 | 8.00 | 9.60 | 1000.0 seq/s | 0.250 | - | - | - | - | - | - | - |"),
            std::string::npos)
      << t;
  const std::string html = html_report(rs, "Load");
  EXPECT_NE(html.find("throughput by concurrent requests"), std::string::npos);
  EXPECT_NE(html.find("text-anchor=\"middle\">concurrent requests</text>"), std::string::npos);
  EXPECT_NE(html.find("<td>3 of 40: HTTP 429: {&quot;error&quot;: &quot;queue full&quot;}</td>"), std::string::npos);
}

TEST(BenchReport, HtmlChartsCarryTheData) {
  const std::string html = html_report(two_devices(), "Test report");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  // Throughput by batch: bert embed (2 devices) and llama decode (1).
  EXPECT_EQ(count(html, "<svg class=\"chart throughput\""), 2u);
  EXPECT_EQ(count(html, "<polyline class=\"series\""), 3u);
  // The bert chart's lines have three points each, one circle per result.
  const std::regex cpu_line(
      R"re(<polyline class="series" data-device="cpu on Test CPU 9000"[^>]*points="([0-9.]+,[0-9.]+ ){2}[0-9.]+,[0-9.]+"/>)re");
  EXPECT_TRUE(std::regex_search(html, cpu_line));
  EXPECT_EQ(count(html, "<circle class=\"point\""), 7u);
  // Latency spread: one chart per model and device, one bar per case with its numbers.
  EXPECT_EQ(count(html, "<svg class=\"chart latency\""), 3u);
  EXPECT_EQ(count(html, "<rect class=\"spread\""), 7u);
  EXPECT_NE(html.find("data-min=\"7.2\" data-median=\"8\" data-p90=\"9.6\""), std::string::npos);
  // Roofline fractions: every result has one; the decode's is of copy bandwidth.
  EXPECT_EQ(count(html, "<svg class=\"chart roofline\""), 1u);
  EXPECT_EQ(count(html, "<rect class=\"fraction\""), 7u);
  EXPECT_NE(html.find("data-value=\"0.6\" data-ceiling=\"copy\""), std::string::npos);
  // Nothing to fetch: no URL, script, external style or image.
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
}

TEST(BenchReport, EscapesWhatResultsCarry) {
  Seed s;
  s.model = "<script>alert(1)</script>";
  const std::string html = html_report({seeded(s)}, "a <b> title");
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("a &lt;b&gt; title"), std::string::npos);
  Seed pipe;
  pipe.model = "a|b";
  EXPECT_NE(markdown_report({seeded(pipe)}).find("a\\|b"), std::string::npos);
}

TEST(BenchReport, MarkdownGroupsByModel) {
  const std::string md = markdown_report(two_devices());
  EXPECT_EQ(md.rfind("# Benchmark report", 0), 0u);
  EXPECT_NE(md.find("## bert-tiny (bert, feature-extraction, 4.00M parameters)"), std::string::npos);
  EXPECT_NE(md.find("## llama-tiny"), std::string::npos);
  EXPECT_NE(md.find("Ceilings: 20.0 GB/s copy, 400.0 GFLOP/s f32 GEMM on cpu (Test CPU 9000)"), std::string::npos);
  EXPECT_NE(md.find("- Test CPU 9000, 8 cores, 69 GB; Linux 6.1.0 x86_64"), std::string::npos);
}

// Every point, bar and line inside its chart, the largest values included. These numbers (bert on
// a CPU at batch 1, 4, 8, as a screenshot in Chromium showed them) once drew the batch-8 point above
// the throughput chart and its latency bar past the right edge: the axes ended at the last round
// tick below the largest value.
TEST(BenchReport, MarksStayInsideTheirCharts) {
  std::vector<BenchResult> rs;
  for (auto [batch, ms] : {std::pair{1, 0.140}, {4, 0.223}, {8, 0.326}}) {
    Seed s;
    s.batch = batch;
    s.median_ms = ms;
    rs.push_back(seeded(s));
  }
  rs.back().measurement.of_gemm = 1.3;  // past the ceiling
  const std::string html = html_report(rs, "edges");
  EXPECT_EQ(test::marks_outside_charts(html), std::vector<std::string>{});
  EXPECT_EQ(count(html, "<circle class=\"point\""), 3u);
  EXPECT_EQ(test::marks_outside_charts(html_report(two_devices(), "t")), std::vector<std::string>{});
  EXPECT_EQ(test::marks_outside_charts(html_report(test::many_results(3000), "t")), std::vector<std::string>{});
  // The checker itself sees a mark outside.
  EXPECT_EQ(
      test::marks_outside_charts(R"(<svg class="chart x" viewBox="0 0 10 10"><circle cx="5" cy="-3"/></svg>)").size(),
      1u);
}

// 10,000 results make one report with a chart per model and case shape. How long it takes is
// measured by bench/bench_report.cpp (docs/benchmarks.md), not asserted here.
TEST(BenchReport, RendersTenThousandResults) {
  const std::string html = html_report(test::many_results(10000), "big");
  EXPECT_GT(count(html, "<svg class=\"chart"), 50u);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</table>\n</body></html>"), std::string::npos);
}

}  // namespace
}  // namespace ia::benchmarks
