// ipfs-accelerate: JSON on stdout, errors on stderr as one line; exit status 2
// for bad input, 1 for an internal error. Subcommands just throw: main maps
// every error to its line and status through core/error_outcome.h, the map
// the HTTP edges use too.
#include <cstddef>
#include <iostream>
#include <string>
#include <vector>

#include "backends/memory_budget.h"
#include "benchmarks/placement_advice.h"
#include "benchmarks/results_store.h"
#include "cli/cli_common.h"
#include "cli/progress.h"
#include "core/error_outcome.h"
#include "core/logging.h"
#include "core/omp_wait.h"
#include "server/server_load_suite.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"ipfs-accelerate: run Hugging Face models fast on this machine's hardware", "ipfs-accelerate"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ipfs-accelerate 0.1.0");
  ia::cli::Context ctx;
  // Root options are taken after a subcommand too (fallthrough, inherited by every subcommand).
  app.fallthrough();
  app.add_option("-t,--threads", ctx.threads,
                 "Worker threads (default: the CPUs this process may use); before or after the command")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("-v,--verbose", ctx.verbose, "Log what loads, from where and how long it took, to stderr");
  app.add_flag("--quiet", ctx.quiet, "No speed summary after generate / chat and no progress on stderr");
  std::string progress = "auto";
  app.add_option("--progress", progress,
                 "Progress on stderr: auto (a bar at a terminal, else a line for work that lasts), plain (a line as "
                 "every task starts and ends), none")
      ->check(CLI::IsMember({"auto", "plain", "none"}))
      ->capture_default_str();
  double gpu_memory_fraction = 0.9;
  app.add_option("--gpu-memory-fraction", gpu_memory_fraction,
                 "Share of a GPU's free memory this process may take for weights and KV cache, in (0, 1]")
      ->capture_default_str();
  bool pretty = false;
  app.add_flag("--pretty", pretty, "Indent JSON output (default: each object on one compact line)");

  // `bench --suite server-load` runs the server, which the benchmarks layer cannot call: its suite
  // is registered here, before `bench` lists the suites it takes.
  ia::server::register_server_load_suite();
  ia::cli::Action action;
  ia::cli::register_embed(app, ctx, action);
  ia::cli::register_classify(app, ctx, action);
  ia::cli::register_detect(app, ctx, action);
  ia::cli::register_similarity(app, ctx, action);
  ia::cli::register_tokenize(app, ctx, action);
  ia::cli::register_inspect(app, ctx, action);
  ia::cli::register_hardware(app, ctx, action);
  ia::cli::register_chat_template(app, ctx, action);
  ia::cli::register_generate(app, ctx, action);
  ia::cli::register_chat(app, ctx, action);
  ia::cli::register_dev(app, ctx, action);
  ia::cli::register_ipfs(app, ctx, action);
  ia::cli::register_models(app, ctx, action);

  ia::cli::register_pull(app, ctx, action);
  ia::cli::register_serve(app, ctx, action);
  ia::cli::register_transcribe(app, ctx, action);
  ia::cli::register_eval(app, ctx, action);
  ia::cli::register_quantize(app, ctx, action);
  ia::cli::register_bench(app, ctx, action);
  ia::cli::register_providers(app, ctx, action);
  ia::cli::register_status(app, ctx, action);
  // `help [COMMAND...]` is `COMMAND... --help`; then name an unknown command or
  // option plainly, with the nearest known name, before CLI11 parses.
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    const bool option = args[i].size() > 1 && args[i][0] == '-' && args[i].find('=') == std::string::npos;
    const CLI::Option* opt = option ? app.get_option_no_throw(args[i]) : nullptr;
    if (opt && opt->get_items_expected_min() > 0) {
      ++i;
      continue;
    }
    if (args[i].empty() || args[i][0] == '-') continue;
    if (args[i] == "help") {
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
      args.emplace_back("--help");
    }
    break;
  }
  if (auto problem = ia::cli::check_arguments(app, args)) {
    const ia::ErrorOutcome outcome{ia::ErrorKind::InvalidArgument, *problem};
    std::cerr << ia::cli_error_line(outcome) << "\n";
    return ia::cli_exit_status(outcome.kind);
  }
  std::vector<char*> parse_argv;
  for (std::string& a : args) parse_argv.push_back(a.data());

  try {
    app.parse(static_cast<int>(parse_argv.size()), parse_argv.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const ia::ErrorOutcome outcome{ia::ErrorKind::InvalidArgument, std::string(e.what()) + " (see --help)"};
    std::cerr << ia::cli_error_line(outcome) << "\n";
    return ia::cli_exit_status(outcome.kind);
  }

  ia::init_logging(ctx.verbose);
  ia::set_gpu_memory_fraction(gpu_memory_fraction);  // exit 2 outside (0, 1]
  ia::cli::install_progress_reporter(ctx.quiet ? ia::cli::ProgressStyle::None
                                               : ia::cli::parse_progress_style(progress));
  ia::cli::set_pretty_json(pretty);
  // `--device auto` goes by this machine's benchmark results where they compare devices.
  ia::benchmarks::install_measured_placement(ia::benchmarks::default_results_location());
  return action ? action() : 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything else: libgomp has read its environment already (see core/omp_wait.h).
  ia::reexec_with_cli_omp_wait(argc, argv);
  try {
    return run(argc, argv);
  } catch (...) {  // ia::Error, ipfs_accelerate::Error, the machine's files, bugs
    const ia::ErrorOutcome outcome = ia::current_error_outcome();
    std::cerr << ia::cli_error_line(outcome) << "\n";
    return ia::cli_exit_status(outcome.kind);
  }
}
