// Tables and reports of benchmark results.
#include "benchmarks/bench_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "benchmarks/result_queries.h"

namespace ia::benchmarks {

namespace {

std::string human_count(double v) {
  if (v >= 1e9) return fmt::format("{:.2f}B", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}K", v / 1e3);
  return fmt::format("{:.0f}", v);
}

std::string ms_text(double ms) {
  return ms >= 100 ? fmt::format("{:.1f}", ms) : ms >= 1 ? fmt::format("{:.2f}", ms) : fmt::format("{:.3f}", ms);
}

std::string unit_rate(const std::string& unit) {
  if (unit == "tokens") return "tok/s";
  if (unit == "sequences") return "seq/s";
  if (unit == "images") return "img/s";
  if (unit == "audio_s") return "x realtime";
  return unit + "/s";
}

std::string throughput_text(const Measurement& m) {
  return fmt::format("{:.1f} {}", m.throughput, unit_rate(m.unit));
}

std::string fraction_text(double f) {
  return f > 0 ? fmt::format("{:.3f}", f) : "-";
}

// The columns of results that are requests to a server (server-load), shown where any is: the
// request rate, time to first token and inter-token latency (p50, p90), and the errors.
bool any_requests(const std::vector<BenchResult>& results) {
  return std::any_of(results.begin(), results.end(), [](const BenchResult& r) { return r.measurement.requests > 0; });
}

const std::vector<std::string> kRequestColumns = {"req/s",      "TTFT p50 ms", "TTFT p90 ms",
                                                  "ITL p50 ms", "ITL p90 ms",  "errors"};

std::vector<std::string> request_cells(const Measurement& m) {
  if (m.requests == 0) return std::vector<std::string>(kRequestColumns.size(), "-");
  auto spread = [](const SampleStats& s, double v) { return s.count > 0 ? ms_text(v) : "-"; };
  std::string errors = std::to_string(m.errors);
  if (m.errors > 0) {  // a row with errors says so, and what the first was
    const std::string first = m.error.size() > 80 ? m.error.substr(0, 80) + "..." : m.error;
    errors = fmt::format("{} of {}: {}", m.errors, m.requests, first);
  }
  return {fmt::format("{:.2f}", m.requests_per_s), spread(m.ttft_ms, m.ttft_ms.median),
          spread(m.ttft_ms, m.ttft_ms.p90),        spread(m.itl_ms, m.itl_ms.median),
          spread(m.itl_ms, m.itl_ms.p90),          errors};
}

// A Markdown cell: pipes and line breaks would end it.
std::string cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                    "#9467bd", "#8c564b", "#e377c2", "#17becf"};
const char* color(size_t i) {
  return kPalette[i % (sizeof kPalette / sizeof kPalette[0])];
}

std::string device_label(const BenchResult& r) {
  return r.params.device + " on " + machine_label(r);
}

// The group a throughput-vs-batch chart draws: one model and case shape, every batch.
std::string scaling_key(const BenchResult& r) {
  return fmt::format("{} {} | {} s{} n{}", r.model.name, r.model.dtype, r.params.suite, r.params.seq_len,
                     r.params.new_tokens);
}

std::string scaling_title(const BenchResult& r) {
  std::string t = fmt::format("{} ({}) {}", r.model.name, r.model.dtype, r.params.suite);
  if (r.params.suite == "embed") t += fmt::format(", {} tokens", r.params.seq_len);
  if (r.params.suite == "prefill") t += fmt::format(", {}-token prompts", r.params.seq_len);
  if (r.params.suite == "decode" || r.params.suite == "seq2seq")
    t += fmt::format(", {}-token prompts, {} new", r.params.seq_len, r.params.new_tokens);
  if (r.params.suite == "transcription") t += fmt::format(", {} s audio", r.params.seq_len);
  if (r.params.suite == "server-load")
    t += r.params.new_tokens > 0 ? fmt::format(", {}-token prompts, {} new", r.params.seq_len, r.params.new_tokens)
                                 : fmt::format(", {}-token inputs", r.params.seq_len);
  return t;
}

// What a row's batch is: requests in flight for a server's load, else sequences per call.
const char* batch_axis(const BenchResult& r) {
  return r.measurement.requests > 0 ? "concurrent requests" : "batch size";
}

constexpr double kW = 560, kH = 300, kLeft = 70, kRight = 20, kTop = 30, kBottom = 50;

// Ticks for [0, max]: about five round values.
std::vector<double> ticks(double max) {
  if (max <= 0) return {0};
  const double raw = max / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 2 ? 2 * mag : raw / mag < 5 ? 5 * mag : 10 * mag;
  std::vector<double> t;
  for (double v = 0; v <= max * 1.0001; v += step) t.push_back(v);
  return t;
}

// The top of an axis that shows [0, max]: the first of ticks(max)'s steps at or above max (ticks
// stop at or below it), so the largest value is drawn inside the chart, not past its edge.
double axis_top(double max) {
  const std::vector<double> t = ticks(max);
  if (t.size() < 2) return max;  // max <= 0: an empty axis
  return t.back() >= max ? t.back() : t.back() + (t[1] - t[0]);
}

std::string tick_text(double v) {
  return std::fabs(v) >= 1000 ? human_count(v) : fmt::format("{:g}", std::round(v * 1000) / 1000);
}

// The frame, y grid and labels of a chart whose y runs from 0 to y_max.
std::string chart_open(const std::string& kind, const std::string& title, const std::string& y_label, double y_max,
                       size_t series) {
  std::string s = fmt::format(
      "<figure><figcaption>{}</figcaption>\n<svg class=\"chart {}\" data-series=\"{}\" viewBox=\"0 0 {} {}\" "
      "width=\"{}\" height=\"{}\" role=\"img\">\n",
      html_escape(title), kind, series, kW, kH, kW, kH);
  for (double t : ticks(y_max)) {
    const double y = kH - kBottom - (kH - kTop - kBottom) * (y_max > 0 ? t / y_max : 0);
    s +=
        fmt::format("<line class=\"grid\" x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\"/>", kLeft, y, kW - kRight, y);
    s += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", kLeft - 6, y + 4,
                     tick_text(t));
  }
  s += fmt::format("<line class=\"axis\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", kLeft, kH - kBottom, kW - kRight,
                   kH - kBottom);
  s +=
      fmt::format("<line class=\"axis\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\n", kLeft, kTop, kLeft, kH - kBottom);
  s +=
      fmt::format("<text class=\"label\" transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                  (kH - kBottom + kTop) / 2, html_escape(y_label));
  return s;
}

std::string legend(const std::vector<std::string>& names) {
  std::string s = "<div class=\"legend\">";
  for (size_t i = 0; i < names.size(); ++i)
    s += fmt::format("<span><i style=\"background:{}\"></i>{}</span>", color(i), html_escape(names[i]));
  return s + "</div>";
}

double y_of(double v, double y_max) {
  return kH - kBottom - (kH - kTop - kBottom) * (y_max > 0 ? v / y_max : 0);
}

// Throughput against batch size, one line per device, for every model and case shape.
std::string throughput_charts(const std::vector<BenchResult>& latest) {
  std::map<std::string, std::vector<const BenchResult*>> groups;
  std::vector<std::string> order;
  for (const auto& r : latest) {
    auto [it, fresh] = groups.try_emplace(scaling_key(r));
    if (fresh) order.push_back(it->first);
    it->second.push_back(&r);
  }
  std::string out;
  for (const auto& key : order) {
    const auto& rs = groups[key];
    std::vector<int64_t> batches;
    std::vector<std::string> devices;
    double y_max = 0;
    for (const auto* r : rs) {
      batches.push_back(r->params.batch);
      if (std::find(devices.begin(), devices.end(), device_label(*r)) == devices.end())
        devices.push_back(device_label(*r));
      y_max = std::max(y_max, r->measurement.throughput);
    }
    std::sort(batches.begin(), batches.end());
    batches.erase(std::unique(batches.begin(), batches.end()), batches.end());
    y_max = axis_top(y_max * 1.05);
    // Batches sit at even steps (they grow geometrically), labelled with their value.
    const double plot_w = kW - kLeft - kRight;
    auto x_of = [&](int64_t b) {
      const size_t i = static_cast<size_t>(std::find(batches.begin(), batches.end(), b) - batches.begin());
      return kLeft + plot_w * (static_cast<double>(i) + 0.5) / static_cast<double>(batches.size());
    };
    const std::string axis = batch_axis(*rs.front());
    std::string s = chart_open("throughput", scaling_title(*rs.front()) + ": throughput by " + axis,
                               unit_rate(rs.front()->measurement.unit), y_max, devices.size());
    for (int64_t b : batches)
      s += fmt::format("<text class=\"tick\" x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>", x_of(b),
                       kH - kBottom + 16, b);
    s += fmt::format("<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", kLeft + plot_w / 2,
                     kH - 8, axis);
    for (size_t d = 0; d < devices.size(); ++d) {
      std::vector<const BenchResult*> pts;
      for (const auto* r : rs)
        if (device_label(*r) == devices[d]) pts.push_back(r);
      std::sort(pts.begin(), pts.end(), [](auto* a, auto* b) { return a->params.batch < b->params.batch; });
      std::string points;
      for (const auto* r : pts)
        points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", x_of(r->params.batch),
                              y_of(r->measurement.throughput, y_max));
      s += fmt::format(
          "<polyline class=\"series\" data-device=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" "
          "points=\"{}\"/>\n",
          html_escape(devices[d]), color(d), points);
      for (const auto* r : pts)
        s += fmt::format(
            "<circle class=\"point\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\" data-value=\"{}\">"
            "<title>{}: {} {}: {}</title></circle>\n",
            x_of(r->params.batch), y_of(r->measurement.throughput, y_max), color(d), r->measurement.throughput,
            html_escape(devices[d]), r->measurement.requests > 0 ? "concurrency" : "batch", r->params.batch,
            html_escape(throughput_text(r->measurement)));
    }
    out += s + "</svg>" + legend(devices) + "</figure>\n";
  }
  return out;
}

// Each case's min to p90 as a bar with the median marked, one chart per model and device.
std::string latency_charts(const std::vector<BenchResult>& latest) {
  std::map<std::string, std::vector<const BenchResult*>> groups;
  std::vector<std::string> order;
  for (const auto& r : latest) {
    const std::string key = r.model.name + " (" + r.model.dtype + ") on " + device_label(r);
    auto [it, fresh] = groups.try_emplace(key);
    if (fresh) order.push_back(key);
    it->second.push_back(&r);
  }
  std::string out;
  for (const auto& key : order) {
    const auto& rs = groups[key];
    double x_max = 0;
    for (const auto* r : rs) x_max = std::max(x_max, r->measurement.ms.p90);
    x_max = axis_top(x_max * 1.05);
    const double row = 22, height = kTop + row * static_cast<double>(rs.size()) + 40, left = 170;
    const double plot_w = kW - left - kRight;
    auto x_of = [&](double ms) { return left + plot_w * (x_max > 0 ? ms / x_max : 0); };
    std::string s = fmt::format(
        "<figure><figcaption>{}: latency per repetition (min to p90, median marked)</figcaption>\n<svg class=\"chart "
        "latency\" data-series=\"{}\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\">\n",
        html_escape(key), rs.size(), kW, height, kW, height);
    for (double t : ticks(x_max)) {
      s += fmt::format("<line class=\"grid\" x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\"/>", x_of(t), kTop, x_of(t),
                       height - 40);
      s += fmt::format("<text class=\"tick\" x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x_of(t),
                       height - 26, tick_text(t));
    }
    s += fmt::format("<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">milliseconds</text>\n",
                     left + plot_w / 2, height - 8);
    for (size_t i = 0; i < rs.size(); ++i) {
      const SampleStats& st = rs[i]->measurement.ms;
      const double y = kTop + row * static_cast<double>(i);
      s += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>", left - 6, y + 14,
                       html_escape(case_label(*rs[i])));
      s += fmt::format(
          "<rect class=\"spread\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"12\" fill=\"{}\" "
          "fill-opacity=\"0.35\" data-min=\"{}\" data-median=\"{}\" data-p90=\"{}\"><title>min {} ms, "
          "median {} ms, p90 {} ms ({} repetitions)</title></rect>",
          x_of(st.min), y + 4, std::max(1.0, x_of(st.p90) - x_of(st.min)), color(0), st.min, st.median, st.p90,
          ms_text(st.min), ms_text(st.median), ms_text(st.p90), st.count);
      s += fmt::format(
          "<line class=\"median\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
          "stroke-width=\"2\"/>\n",
          x_of(st.median), y + 2, x_of(st.median), y + 18, color(1));
    }
    out += s + "</svg></figure>\n";
  }
  return out;
}

// Fractions of the GEMM ceiling (compute-bound cases) and of copy bandwidth (decode), per case.
std::string roofline_chart(const std::vector<BenchResult>& latest) {
  std::vector<const BenchResult*> rs;
  double y_max = 1;
  for (const auto& r : latest) {
    const double f = std::max(r.measurement.of_gemm, r.measurement.of_copy);
    if (f <= 0) continue;
    rs.push_back(&r);
    y_max = std::max(y_max, f);
  }
  if (rs.empty()) return "<p>No result has a fraction of the ceilings (they were not measured).</p>\n";
  y_max = y_max > 1 ? axis_top(y_max * 1.05) : 1.0;  // the ceiling at the top unless a fraction passes it
  const double width = std::max(kW, kLeft + kRight + 26.0 * static_cast<double>(rs.size()));
  const double plot_w = width - kLeft - kRight, bar = plot_w / static_cast<double>(rs.size());
  std::string s = fmt::format(
      "<figure><figcaption>Fractions of this machine's ceilings: GEMM FLOP/s (embed, prefill, images) and copy "
      "bandwidth (decode)</figcaption>\n<svg class=\"chart roofline\" data-series=\"2\" viewBox=\"0 0 {} {}\" "
      "width=\"{}\" height=\"{}\" role=\"img\">\n",
      width, kH, width, kH);
  for (double t : ticks(y_max)) {
    s += fmt::format("<line class=\"grid\" x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\"/>", kLeft, y_of(t, y_max),
                     width - kRight, y_of(t, y_max));
    s += fmt::format("<text class=\"tick\" x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", kLeft - 6,
                     y_of(t, y_max) + 4, tick_text(t));
  }
  s += fmt::format(
      "<line class=\"ceiling\" x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#444\" "
      "stroke-dasharray=\"4 3\"/>\n",
      kLeft, y_of(1, y_max), width - kRight, y_of(1, y_max));
  for (size_t i = 0; i < rs.size(); ++i) {
    const Measurement& m = rs[i]->measurement;
    const bool copy = m.of_copy > 0;
    const double f = copy ? m.of_copy : m.of_gemm;
    const double x = kLeft + bar * static_cast<double>(i) + bar * 0.15;
    s += fmt::format(
        "<rect class=\"fraction\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
        "fill=\"{}\" data-value=\"{}\" data-ceiling=\"{}\"><title>{} {} on {}: {:.3f} of {}</title></rect>\n",
        x, y_of(f, y_max), bar * 0.7, y_of(0, y_max) - y_of(f, y_max), color(copy ? 1 : 0), f, copy ? "copy" : "gemm",
        html_escape(rs[i]->model.name), html_escape(case_label(*rs[i])), html_escape(device_label(*rs[i])), f,
        copy ? "copy bandwidth" : "GEMM FLOP/s");
  }
  s += "</svg>" + legend({"of GEMM FLOP/s", "of copy bandwidth"}) + "</figure>\n";
  return s;
}

std::string html_table(const std::vector<BenchResult>& rs) {
  const bool requests = any_requests(rs);
  std::string s =
      "<table><thead><tr><th>model</th><th>dtype</th><th>device</th><th>case</th><th>min ms</th><th>median ms</th>"
      "<th>p90 ms</th><th>throughput</th><th>of GEMM</th><th>of copy</th>";
  if (requests)
    for (const std::string& c : kRequestColumns) s += "<th>" + c + "</th>";
  s += "<th>commit</th></tr></thead><tbody>\n";
  for (const auto& r : rs) {
    const Measurement& m = r.measurement;
    s += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td>",
        html_escape(r.model.name), html_escape(r.model.dtype), html_escape(device_label(r)), html_escape(case_label(r)),
        ms_text(m.ms.min), ms_text(m.ms.median), ms_text(m.ms.p90), html_escape(throughput_text(m)),
        fraction_text(m.of_gemm), fraction_text(m.of_copy));
    if (requests)
      for (const std::string& c : request_cells(m)) s += "<td>" + html_escape(c) + "</td>";
    s += "<td>" + html_escape(r.build.commit.substr(0, 12)) + "</td></tr>\n";
  }
  return s + "</tbody></table>\n";
}

}  // namespace

std::string ceilings_text(const BenchResult& r) {
  if (r.ceilings.copy_bytes_per_s <= 0 && r.ceilings.gemm_flops_per_s <= 0) return "";
  return fmt::format("{:.1f} GB/s copy, {:.1f} GFLOP/s {} GEMM on {} ({})", r.ceilings.copy_bytes_per_s / 1e9,
                     r.ceilings.gemm_flops_per_s / 1e9, r.model.dtype, r.params.device, machine_label(r));
}

std::string results_table(const std::vector<BenchResult>& results) {
  const bool requests = any_requests(results);
  std::string s =
      "| model | params | dtype | device | case | min ms | median ms | p90 ms | throughput | of GEMM | of copy |";
  std::string rule = "| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |";
  if (requests)
    for (const std::string& c : kRequestColumns) {
      s += " " + c + " |";
      rule += c == "errors" ? " --- |" : " ---: |";
    }
  s += "\n" + rule + "\n";
  for (const auto& r : results) {
    const Measurement& m = r.measurement;
    s += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |", cell(r.model.name),
                     human_count(static_cast<double>(r.model.parameters)), cell(r.model.dtype), cell(r.params.device),
                     cell(case_label(r)), ms_text(m.ms.min), ms_text(m.ms.median), ms_text(m.ms.p90),
                     throughput_text(m), fraction_text(m.of_gemm), fraction_text(m.of_copy));
    if (requests)
      for (const std::string& c : request_cells(m)) s += " " + cell(c) + " |";
    s += "\n";
  }
  return s;
}

std::string markdown_report(const std::vector<BenchResult>& results) {
  const std::vector<BenchResult> latest = latest_results(results);
  std::string s = "# Benchmark report\n\n";
  s += fmt::format("{} results ({} distinct cases, the latest of each shown).\n\n", results.size(), latest.size());
  std::set<std::string> machines, builds;
  for (const auto& r : latest) {
    machines.insert(fmt::format("{}, {} cores, {:.0f} GB{}; {}", r.machine.cpu_model, r.machine.physical_cores,
                                static_cast<double>(r.machine.memory_bytes) / 1e9,
                                r.machine.gpu_name.empty() ? "" : "; " + r.machine.gpu_name, r.machine.os));
    builds.insert(fmt::format("{} {} ({}; {})", r.build.version, r.build.commit.substr(0, 12), r.build.compiler,
                              r.build.backends));
  }
  s += "## Machines\n\n";
  for (const auto& m : machines) s += "- " + cell(m) + "\n";
  s += "\n## Builds\n\n";
  for (const auto& b : builds) s += "- " + cell(b) + "\n";
  std::map<std::string, std::vector<BenchResult>> by_model;
  std::vector<std::string> order;
  for (const auto& r : latest) {
    auto [it, fresh] = by_model.try_emplace(r.model.name);
    if (fresh) order.push_back(r.model.name);
    it->second.push_back(r);
  }
  for (const auto& name : order) {
    const auto& rs = by_model[name];
    s += fmt::format("\n## {} ({}, {}, {} parameters)\n\n", cell(name), cell(rs.front().model.family),
                     cell(rs.front().model.task), human_count(static_cast<double>(rs.front().model.parameters)));
    std::set<std::string> ceilings;
    for (const auto& r : rs)
      if (!ceilings_text(r).empty()) ceilings.insert(ceilings_text(r));
    for (const auto& c : ceilings) s += "Ceilings: " + cell(c) + "\n\n";
    s += results_table(rs);
  }
  return s;
}

std::string html_report(const std::vector<BenchResult>& results, const std::string& title) {
  const std::vector<BenchResult> latest = latest_results(results);
  std::string s = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" + html_escape(title) +
                  "</title>\n<style>\n"
                  "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}\n"
                  "figure{display:inline-block;margin:8px 16px 16px 0;vertical-align:top}\n"
                  "figcaption{font-weight:600;margin-bottom:4px;max-width:560px}\n"
                  "svg .grid{stroke:#e4e4e4}svg .axis{stroke:#888}svg text{font-size:11px;fill:#444}\n"
                  "svg .label{font-size:12px}.legend span{margin-right:12px;font-size:12px}\n"
                  ".legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\n"
                  "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 6px;"
                  "text-align:right}td:nth-child(-n+4),th:nth-child(-n+4){text-align:left}\n"
                  "</style></head><body>\n";
  s += "<h1>" + html_escape(title) + "</h1>\n";
  s += fmt::format("<p>{} results, {} distinct cases (the latest of each shown).</p>\n", results.size(), latest.size());
  if (latest.empty()) return s + "<p>No results match.</p>\n</body></html>\n";
  s += "<h2>Throughput by batch size</h2>\n" + throughput_charts(latest);
  s += "<h2>Latency spread</h2>\n" + latency_charts(latest);
  s += "<h2>Roofline fractions</h2>\n" + roofline_chart(latest);
  s += "<h2>Results</h2>\n" + html_table(latest);
  return s + "</body></html>\n";
}

}  // namespace ia::benchmarks
