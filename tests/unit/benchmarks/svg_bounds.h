#pragma once
// Whether every mark of the report's charts lies inside its chart: each `<svg class="chart ...">`'s
// viewBox holds all its circles (centre), rects (the whole box) and polyline points. A mark past
// the edge is drawn outside the chart or cut off (a point above the top of the axis). Works on the
// report as written and on the DOM a browser dumps.
#include <regex>
#include <string>
#include <vector>

namespace ia::benchmarks::test {

inline double svg_attr(const std::string& tag, const std::string& name, bool* found = nullptr) {
  const std::regex re("\\s" + name + "=\"([-0-9.eE+]+)\"");
  std::smatch m;
  const bool ok = std::regex_search(tag, m, re);
  if (found) *found = ok;
  return ok ? std::stod(m[1]) : 0;
}

// One line per mark outside its chart ("chart 3 (throughput): circle at 212.0,-19.6 outside 560x300").
inline std::vector<std::string> marks_outside_charts(const std::string& html) {
  std::vector<std::string> out;
  const std::regex chart_re(R"re(<svg class="chart ([a-z]+)"[^>]*viewBox="0 0 ([0-9.]+) ([0-9.]+)")re");
  const std::regex tag_re(R"re(<(circle|rect|polyline)\s[^>]*>)re");
  size_t index = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), chart_re); it != std::sregex_iterator(); ++it) {
    const auto& chart = *it;
    const std::string kind = chart[1];
    const double w = std::stod(chart[2]), h = std::stod(chart[3]);
    const size_t begin = static_cast<size_t>(chart.position(0));
    const size_t end = html.find("</svg>", begin);
    const std::string body = html.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    auto check = [&](const std::string& what, double x, double y) {
      const double slack = 0.5;  // the coordinates are written with one decimal
      if (x < -slack || y < -slack || x > w + slack || y > h + slack)
        out.push_back("chart " + std::to_string(index) + " (" + kind + "): " + what + " at " + std::to_string(x) + "," +
                      std::to_string(y) + " outside " + std::to_string(w) + "x" + std::to_string(h));
    };
    for (auto t = std::sregex_iterator(body.begin(), body.end(), tag_re); t != std::sregex_iterator(); ++t) {
      const std::string tag = (*t)[0], name = (*t)[1];
      if (name == "circle") {
        check("circle", svg_attr(tag, "cx"), svg_attr(tag, "cy"));
      } else if (name == "rect") {
        const double x = svg_attr(tag, "x"), y = svg_attr(tag, "y");
        check("rect", x, y);
        check("rect's far corner", x + svg_attr(tag, "width"), y + svg_attr(tag, "height"));
      } else {
        std::smatch pts;
        if (!std::regex_search(tag, pts, std::regex(R"re(points="([^"]*)")re"))) continue;
        const std::string list = pts[1];
        const std::regex pair_re(R"re((-?[0-9.]+),(-?[0-9.]+))re");
        for (auto p = std::sregex_iterator(list.begin(), list.end(), pair_re); p != std::sregex_iterator(); ++p)
          check("polyline point", std::stod((*p)[1]), std::stod((*p)[2]));
      }
    }
    ++index;
  }
  return out;
}

}  // namespace ia::benchmarks::test
