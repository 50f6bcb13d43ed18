// GET /dashboard: the benchmark report (benchmarks/bench_report.h) over the results database
// (serve --db, else this machine's default SQLite file), as `bench report --format html` writes it.
#include "benchmarks/bench_report.h"
#include "benchmarks/results_store.h"
#include "server/route_handler.h"
#include "server/routes.h"

namespace ia::server {

void add_dashboard_routes(httplib::Server& http, ServerState& state) {
  add_get_route(
      http, state, "/dashboard",
      [&state](const httplib::Request& req, httplib::Response& res) {
        const std::string db =
            state.options.results_db.empty() ? benchmarks::default_results_location() : state.options.results_db;
        std::vector<benchmarks::BenchResult> results;
        if (benchmarks::results_store_may_exist(db)) {  // never create a database just to show it empty
          benchmarks::ResultFilter filter;
          filter.model = req.get_param_value("model");
          filter.family = req.get_param_value("family");
          filter.suite = req.get_param_value("suite");
          filter.device = req.get_param_value("device");
          filter.dtype = req.get_param_value("dtype");
          results = benchmarks::open_results_store(db)->select(filter);
        }
        res.status = 200;
        res.set_content(benchmarks::html_report(results, "ipfs-accelerate benchmarks"), "text/html; charset=utf-8");
      },
      RouteOptions{.needs_key = true, .needs_ready = false, .tei_errors = nullptr});
}

}  // namespace ia::server
