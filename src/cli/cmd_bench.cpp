// `bench`: benchmark a model on this machine and keep the results (src/benchmarks), then query
// them, compare devices and commits, and write reports.
//
//   bench --model M [--suite S] [--device D] [--dtype T] [-r N] [--warmup N] [--batch 1,8]
//         [--seq-len 16,128] [--new-tokens 64] [--concurrency 1,8,32] [--format table|json|csv]
//         [--db PATH] [--no-save]
//   bench import FILE.json [--db PATH]
//   bench query [filters] [--compare devices | --compare-commits BASE HEAD [--threshold 0.05]]
//   bench report --format md|html --out FILE [filters]
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "benchmarks/bench_report.h"
#include "benchmarks/benchmark_runner.h"
#include "benchmarks/result_queries.h"
#include "benchmarks/results_store.h"
#include "cli/cli_common.h"
#include "core/error.h"
#include "ipfs/fs_blockstore.h"

namespace ia::cli {

namespace {

namespace bm = ia::benchmarks;

struct RunArgs {
  bm::BenchRequest request;
  std::string format = "table";
  std::string db;
  bool no_save = false;
  bool no_ceilings = false;
};

struct FilterArgs {
  bm::ResultFilter filter;
  std::string db;
  std::string format;
  std::string compare;
  std::vector<std::string> commits;
  double threshold = 0.05;
  bool fail_on_regression = false;
  std::string out, title = "ipfs-accelerate benchmarks";
};

constexpr const char* kDbHelp =
    "Results database: a SQLite file or a postgresql:// URL (default: $IPFS_ACCELERATE_HOME/benchmarks.sqlite)";

std::string db_location(const std::string& given) {
  return given.empty() ? bm::default_results_location() : given;
}

// "embed | prefill | ... | server-load": the suites registered when the command line is built.
std::string suite_choices() {
  std::string out;
  for (const std::string& n : bm::suite_names()) out += (out.empty() ? "" : " | ") + n;
  return out;
}

void print_results(const std::vector<bm::BenchResult>& results, const std::string& format) {
  if (format == "json")
    std::cout << json_text(bm::results_document(results).dump()) << "\n";
  else if (format == "csv")
    std::cout << bm::results_csv(results);
  else
    std::cout << bm::results_table(results);
}

int run_bench(Context& ctx, RunArgs& args) {
  ctx.accelerator();  // applies --threads, as for every command that runs a model
  args.request.measure_ceilings = !args.no_ceilings;
  std::vector<bm::BenchResult> results = bm::run_benchmarks(args.request);
  if (args.format == "table" && !results.empty()) {
    const std::string ceilings = bm::ceilings_text(results.front());
    if (!ceilings.empty()) std::cout << "ceilings: " << ceilings << "\n\n";
  }
  print_results(results, args.format);
  if (!args.no_save) {
    auto store = bm::open_results_store(db_location(args.db));
    const size_t added = store->insert(results);
    if (!ctx.quiet) std::cerr << fmt::format("bench: saved {} results to {}\n", added, store->location());
  }
  // Requests that failed (server-load) are in their rows, kept; the run did not measure what it
  // set out to, so the status says so.
  int failed = 0;
  for (const bm::BenchResult& r : results)
    if (r.measurement.errors > 0) {
      std::cerr << fmt::format("bench: {}: {} of {} requests failed; the first: {}\n", bm::case_label(r),
                               r.measurement.errors, r.measurement.requests, r.measurement.error);
      failed = 1;
    }
  return failed;
}

int run_import(Context& ctx, const std::string& file, const std::string& db) {
  const std::string text = read_input_text(file, "bench import");
  const std::vector<bm::BenchResult> results = bm::parse_results_document(text, file);
  auto store = bm::open_results_store(db_location(db));
  const size_t added = store->insert(results);
  std::cout << json_text(nlohmann::json{
                   {"imported", added}, {"already_stored", results.size() - added}, {"database", store->location()}})
            << "\n";
  return 0;
}

int run_query(const FilterArgs& a) {
  auto store = bm::open_results_store(db_location(a.db));
  const std::vector<bm::BenchResult> results = store->select(a.filter);
  if (!a.commits.empty()) {
    const auto rows = bm::compare_commits(results, a.commits[0], a.commits[1], a.threshold);
    size_t regressions = 0;
    if (a.format == "json") {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const auto& c : rows) {
        out.push_back({{"model", c.model},
                       {"case", c.case_label},
                       {"device", c.device},
                       {"machine", c.machine},
                       {"base_ms", c.base_ms},
                       {"head_ms", c.head_ms},
                       {"change", c.change},
                       {"regression", c.regression}});
        regressions += c.regression;
      }
      std::cout << json_text(out.dump()) << "\n";
    } else {
      std::cout << fmt::format(
          "| model | case | device | {} ms | {} ms | change | |\n| --- | --- | --- | ---: | ---: | ---: | --- |\n",
          a.commits[0].substr(0, 12), a.commits[1].substr(0, 12));
      for (const auto& c : rows) {
        std::cout << fmt::format("| {} | {} | {} on {} | {:.3f} | {:.3f} | {:+.1f}% | {} |\n", c.model, c.case_label,
                                 c.device, c.machine, c.base_ms, c.head_ms, 100 * c.change,
                                 c.regression ? "REGRESSION" : "");
        regressions += c.regression;
      }
      std::cerr << fmt::format("bench query: {} cases at both commits, {} slower by more than {:.1f}%\n", rows.size(),
                               regressions, 100 * a.threshold);
    }
    return a.fail_on_regression && regressions > 0 ? 3 : 0;
  }
  if (a.compare == "devices") {
    const auto rows = bm::compare_devices(results);
    if (a.format == "json") {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const auto& c : rows) {
        nlohmann::ordered_json by_device = nlohmann::ordered_json::object();
        for (size_t i = 0; i < c.devices.size(); ++i)
          by_device[c.devices[i]] = c.throughput[i] ? nlohmann::ordered_json(*c.throughput[i]) : nullptr;
        out.push_back({{"model", c.model}, {"case", c.case_label}, {"unit", c.unit}, {"throughput", by_device}});
      }
      std::cout << json_text(out.dump()) << "\n";
      return 0;
    }
    if (rows.empty()) return 0;
    std::string header = "| model | case |", rule = "| --- | --- |";
    for (const auto& d : rows.front().devices) {
      header += " " + d + " |";
      rule += " ---: |";
    }
    std::cout << header << "\n" << rule << "\n";
    for (const auto& c : rows) {
      std::string line = "| " + c.model + " | " + c.case_label + " |";
      for (const auto& t : c.throughput) line += t ? fmt::format(" {:.1f} |", *t) : " - |";
      std::cout << line << "\n";
    }
    return 0;
  }
  print_results(results, a.format.empty() ? "table" : a.format);
  return 0;
}

int run_report(const FilterArgs& a) {
  auto store = bm::open_results_store(db_location(a.db));
  const std::vector<bm::BenchResult> results = store->select(a.filter);
  const std::string text = a.format == "html" ? bm::html_report(results, a.title) : bm::markdown_report(results);
  if (a.out.empty() || a.out == "-") {
    std::cout << text;
  } else {
    ipfs::write_file_atomic(a.out, text, false);  // never a half-written report
    std::cerr << fmt::format("bench report: {} results to {}\n", results.size(), a.out);
  }
  return 0;
}

void add_filters(CLI::App* sub, FilterArgs& a) {
  sub->add_option("--db", a.db, kDbHelp);
  sub->add_option("-m,--model", a.filter.model, "Model name or folder, or a part of either");
  sub->add_option("--family", a.filter.family, "Model family (bert, llama, ...)");
  sub->add_option("--suite", a.filter.suite, "Suite (" + suite_choices() + ")");
  sub->add_option("--device", a.filter.device, "cpu, cuda (any GPU) or cuda:N");
  sub->add_option("--dtype", a.filter.dtype, "f32 or bf16");
  sub->add_option("--commit", a.filter.commit, "Builds whose commit starts with this");
  sub->add_option("--machine", a.filter.machine, "Machines whose CPU or GPU name contains this");
  sub->add_option("--run", a.filter.run_id, "One run's id");
}

}  // namespace

void register_bench(CLI::App& app, Context& ctx, Action& action) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* sub = app.add_subcommand(
      "bench",
      "Benchmark a model on this machine (min / median / p90, fractions of the measured copy and GEMM ceilings) and "
      "keep the results; `bench import|query|report` use them");
  sub->require_subcommand(0, 1);
  CLI::Option* model = sub->add_option("-m,--model", args->request.model, "Model folder, CID or name");
  sub->add_option("--suite", args->request.suite, suite_choices() + " (default: the model's task's)")
      ->check(CLI::IsMember(bm::suite_names()));
  sub->add_option("--device", args->request.device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  sub->add_option("--dtype", args->request.dtype, "auto | f32 | bf16")->capture_default_str();
  sub->add_option("--quantize", args->request.quantize,
                  "Weights packed at load: none | int8 | q4 | q4_128 | q4z | q4z_128 (docs/quantization.md; embed, "
                  "prefill, decode, generate, server-load)")
      ->capture_default_str();
  sub->add_option("--kv-cache-dtype", args->request.kv_cache_dtype,
                  "KV cache: auto (f32) | f32 | int8 (CPU; prefill, decode, generate, server-load)")
      ->capture_default_str();
  sub->add_option("-r,--repetitions", args->request.repetitions, "Timed repetitions of each case")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  sub->add_option("--warmup", args->request.warmup, "Untimed runs before them")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  sub->add_option("-b,--batch", args->request.batches, "Batch sizes, comma-separated (default: the suite's)")
      ->delimiter(',');
  sub->add_option(
         "-s,--seq-len", args->request.seq_lens,
         "Tokens per sequence (embed), prompt tokens (prefill, decode, seq2seq, server-load) or seconds of audio "
         "(transcription), comma-separated")
      ->delimiter(',');
  sub->add_option("-n,--new-tokens", args->request.new_tokens,
                  "Tokens to generate (decode, seq2seq, server-load; per 30-s window in transcription), "
                  "comma-separated")
      ->delimiter(',');
  sub->add_option("--concurrency", args->request.concurrency,
                  "Requests in flight at once (server-load: the server in this process, each level one row), "
                  "comma-separated (default: 1,4 for a model under 100M parameters, else 1,8,32)")
      ->delimiter(',');
  sub->add_option("--format", args->format, "table | json | csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  sub->add_option("--db", args->db, kDbHelp);
  sub->add_flag("--no-save", args->no_save, "Do not store the results");
  sub->add_flag("--no-ceilings", args->no_ceilings, "Skip measuring copy bandwidth and GEMM FLOP/s (no fractions)");

  auto import_file = std::make_shared<std::string>();
  auto import_db = std::make_shared<std::string>();
  CLI::App* imp = sub->add_subcommand("import", "Merge results from another machine (`bench --format json` output)");
  imp->add_option("file", *import_file, "Results JSON file (- for stdin)")->required();
  imp->add_option("--db", *import_db, kDbHelp);

  auto query = std::make_shared<FilterArgs>();
  CLI::App* q = sub->add_subcommand("query", "Stored results: filter, compare devices, compare two commits");
  add_filters(q, *query);
  q->add_option("--limit", query->filter.limit, "The newest N results only");
  q->add_option("--format", query->format, "table | json | csv")->check(CLI::IsMember({"table", "json", "csv"}));
  CLI::Option* compare = q->add_option("--compare", query->compare, "devices: each case's throughput on every device")
                             ->check(CLI::IsMember({"devices"}));
  CLI::Option* commits =
      q->add_option("--compare-commits", query->commits, "BASE HEAD: median time of each case at two commits")
          ->expected(2);
  compare->excludes(commits);
  q->add_option("--threshold", query->threshold, "Slowdown that counts as a regression (0.05: 5%)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  q->add_flag("--fail-on-regression", query->fail_on_regression, "Exit status 3 when a regression is found");

  auto report = std::make_shared<FilterArgs>();
  report->format = "html";
  CLI::App* rep = sub->add_subcommand("report", "A Markdown or self-contained HTML report with charts");
  add_filters(rep, *report);
  rep->add_option("--format", report->format, "html | md")->check(CLI::IsMember({"html", "md"}))->capture_default_str();
  rep->add_option("-o,--out", report->out, "Output file (default: stdout)");
  rep->add_option("--title", report->title, "The report's title")->capture_default_str();

  sub->callback([&ctx, &action, args, model, imp, q, rep, import_file, import_db, query, report] {
    if (imp->parsed()) {
      action = [&ctx, import_file, import_db] { return run_import(ctx, *import_file, *import_db); };
    } else if (q->parsed()) {
      action = [query] { return run_query(*query); };
    } else if (rep->parsed()) {
      action = [report] { return run_report(*report); };
    } else {
      if (model->count() == 0) throw CLI::RequiredError("--model (or a subcommand: import, query, report)");
      action = [&ctx, args] { return run_bench(ctx, *args); };
    }
  });
}

}  // namespace ia::cli
