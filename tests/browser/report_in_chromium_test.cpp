// The HTML report opened in headless Chromium, as a user opens it: `bench report --format html`
// written from a database, loaded from file:// (and the same report from `serve`'s /dashboard),
// then checked from what the browser produced: a screenshot that is a PNG of the window's size
// with the charts' colours in it, a DOM holding the charts' SVG elements and the table's rows, and
// no request to the network. Skipped, with the reason, where Chromium is not installed.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "benchmarks/bench_result.h"
#include "browser/headless_chromium.h"
#include "integration/cli_runner.h"
#include "integration/serve_client.h"
#include "preprocess/image/image_decoder.h"
#include "unit/benchmarks/seed_results.h"
#include "unit/benchmarks/svg_bounds.h"

namespace ia::test {
namespace {

namespace bm = ia::benchmarks;

const std::string kBert = std::string(IA_FIXTURES_DIR) + "/models/bert";
constexpr int kWidth = 1280, kHeight = 2000;

// bert-tiny on a CPU and a GPU at three batch sizes, and a llama decode case: 2 throughput charts
// (3 lines), 3 latency charts, 7 bars of each kind, 7 table rows.
std::vector<bm::BenchResult> report_results() {
  std::vector<bm::BenchResult> rs;
  for (int64_t b : {1, 8, 32}) {
    bm::test::Seed cpu, gpu;
    cpu.batch = gpu.batch = b;
    cpu.median_ms = 1.0 * static_cast<double>(b);
    gpu.device = "cuda:0";
    gpu.gpu = "NVIDIA H100";
    gpu.run = "run-gpu";
    gpu.median_ms = 0.5 + 0.01 * static_cast<double>(b);
    rs.push_back(bm::test::seeded(cpu));
    rs.push_back(bm::test::seeded(gpu));
  }
  bm::test::Seed decode;
  decode.model = "llama-tiny";
  decode.suite = "decode";
  decode.new_tokens = 16;
  bm::BenchResult d = bm::test::seeded(decode);
  d.measurement.of_gemm = 0;
  d.measurement.of_copy = 0.6;
  rs.push_back(d);
  return rs;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class ReportInChromium : public testing::Test {
 protected:
  void SetUp() override {
    chromium_ = find_chromium();
    if (chromium_.empty())
      GTEST_SKIP() << "Chromium is not installed (Debian: apt-get install chromium, as scripts/install-deps.sh does; "
                      "or set IA_CHROMIUM to its path)";
  }

  // What the screenshot must show: a PNG of the window's size, not blank, the series colours of
  // the charts (the first two of the report's palette) drawn.
  static void expect_rendered_charts(const std::string& png) {
    const image::DecodedImage shot = image::decode_image_file(png);
    EXPECT_EQ(shot.format, "PNG");
    ASSERT_EQ(shot.image.width, kWidth);
    ASSERT_EQ(shot.image.height, kHeight);
    const auto& px = shot.image.pixels;
    std::set<uint32_t> colors;
    size_t not_white = 0, blue = 0, red = 0;
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i + 2 < px.size(); i += 3) {
      const uint32_t rgb = uint32_t{px[i]} << 16 | uint32_t{px[i + 1]} << 8 | px[i + 2];
      colors.insert(rgb);
      not_white += rgb != 0xffffff;
      blue += rgb == 0x1f77b4;  // the first device's series, points and the GEMM bars
      red += rgb == 0xd62728;   // the second device's, and the copy bar
      const double luma = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
      sum += luma;
      sum2 += luma * luma;
    }
    const double n = static_cast<double>(px.size() / 3);
    const double stddev = std::sqrt(std::max(0.0, sum2 / n - (sum / n) * (sum / n)));
    EXPECT_GT(colors.size(), 50u) << "a blank or flat screenshot";
    EXPECT_GT(stddev, 5.0);
    EXPECT_GT(not_white, px.size() / 3 / 50) << "under 2% of the page is drawn";
    // About 16,000 and 6,800 pixels here: lines, points and bars are drawn, not just the frame.
    EXPECT_GT(blue, 2000u) << "the first series' colour is (almost) absent";
    EXPECT_GT(red, 1000u) << "the second series' colour is (almost) absent";
  }

  // The DOM as Chromium built it from the report: every chart element and table row.
  static void expect_report_dom(const std::string& dom) {
    EXPECT_EQ(count(dom, "<svg class=\"chart throughput\""), 2u) << dom.substr(0, 2000);
    EXPECT_EQ(count(dom, "<polyline class=\"series\""), 3u);
    EXPECT_EQ(count(dom, "<circle class=\"point\""), 7u);
    EXPECT_EQ(count(dom, "<svg class=\"chart latency\""), 3u);
    EXPECT_EQ(count(dom, "<rect class=\"spread\""), 7u);
    EXPECT_EQ(count(dom, "<svg class=\"chart roofline\""), 1u);
    EXPECT_EQ(count(dom, "<rect class=\"fraction\""), 7u);
    EXPECT_NE(dom.find("data-value=\"0.6\" data-ceiling=\"copy\""), std::string::npos);
    EXPECT_EQ(count(dom, "<tr><td>"), 7u);
    EXPECT_NE(dom.find("<tr><td>bert-tiny</td><td>f32</td><td>cpu on Test CPU 9000</td><td>embed b8 s64</td>"),
              std::string::npos);
    EXPECT_NE(dom.find("<td>llama-tiny</td>"), std::string::npos);
    EXPECT_EQ(count(dom, "<script"), 0u);
    EXPECT_EQ(bm::test::marks_outside_charts(dom), std::vector<std::string>{});
  }

  static void expect_no_page_requests(const ChromiumRun& run) {
    EXPECT_TRUE(run.page_requests().empty())
        << "the page made requests: " << testing::PrintToString(run.page_requests());
  }

  std::string chromium_;
};

// `bench import` of a results file, `bench report --format html`, the file opened from file://.
TEST_F(ReportInChromium, RendersChartsAndRowsOffline) {
  TempDir dir;
  const std::string db = dir.path() + "/bench.sqlite", report = dir.path() + "/report.html";
  write_file(dir.path() + "/run.json", bm::results_document(report_results()).dump());
  const CliResult imported = run_cli({"bench", "import", dir.path() + "/run.json", "--db", db});
  ASSERT_EQ(imported.status, 0) << imported.err;
  const CliResult written =
      run_cli({"bench", "report", "--db", db, "--format", "html", "--out", report, "--title", "In Chromium"});
  ASSERT_EQ(written.status, 0) << written.err;

  const std::string png = dir.path() + "/report.png";
  const ChromiumRun shot = run_chromium(
      chromium_, "file://" + report,
      {"--screenshot=" + png, "--window-size=" + std::to_string(kWidth) + "," + std::to_string(kHeight)}, true);
  ASSERT_EQ(shot.status, 0) << shot.err;
  expect_rendered_charts(png);
  expect_no_page_requests(shot);

  const ChromiumRun dom = run_chromium(chromium_, "file://" + report, {"--dump-dom"}, true);
  ASSERT_EQ(dom.status, 0) << dom.err;
  EXPECT_NE(dom.out.find("<title>In Chromium</title>"), std::string::npos);
  expect_report_dom(dom.out);
  expect_no_page_requests(dom);
}

// The check above can fail: a page that fetches something is caught by the proxy.
TEST_F(ReportInChromium, SeesARequestAPageMakes) {
  TempDir dir;
  write_file(dir.path() + "/fetches.html",
             "<!DOCTYPE html><html><body><img src=\"http://report-test.invalid/pixel.png\">"
             "<link rel=\"stylesheet\" href=\"https://fonts.report-test.invalid/a.css\"></body></html>");
  const ChromiumRun run = run_chromium(chromium_, "file://" + dir.path() + "/fetches.html", {"--dump-dom"}, true);
  ASSERT_EQ(run.status, 0) << run.err;
  const std::string seen = testing::PrintToString(run.page_requests());
  EXPECT_NE(seen.find("GET http://report-test.invalid/pixel.png"), std::string::npos) << seen;
  EXPECT_NE(seen.find("CONNECT fonts.report-test.invalid:443"), std::string::npos) << seen;
}

// `serve`'s /dashboard: the same report over $IPFS_ACCELERATE_HOME's database, from a server on
// 127.0.0.1 at a free port.
TEST_F(ReportInChromium, DashboardRendersTheSameReport) {
  TempDir home;
  write_file(home.path() + "/run.json", bm::results_document(report_results()).dump());
  ASSERT_EQ(run_cli({"bench", "import", home.path() + "/run.json", "--db", home.path() + "/benchmarks.sqlite"}).status,
            0);
  ServeProcess server({"--model", kBert}, {{"IPFS_ACCELERATE_HOME", home.path()}});
  ASSERT_TRUE(server.ready()) << server.log();
  const std::string url = server.url() + "/dashboard";
  const std::string png = home.path() + "/dashboard.png";
  const ChromiumRun shot = run_chromium(
      chromium_, url,
      {"--screenshot=" + png, "--window-size=" + std::to_string(kWidth) + "," + std::to_string(kHeight)}, false);
  ASSERT_EQ(shot.status, 0) << shot.err;
  expect_rendered_charts(png);
  expect_no_page_requests(shot);
  const ChromiumRun dom = run_chromium(chromium_, url, {"--dump-dom"}, false);
  ASSERT_EQ(dom.status, 0) << dom.err;
  expect_report_dom(dom.out);
  expect_no_page_requests(dom);
  EXPECT_EQ(server.terminate(), 0);
}

}  // namespace
}  // namespace ia::test
