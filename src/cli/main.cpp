// ipfs-accelerate: JSON on stdout, errors on stderr as one line; exit status 2
// for bad input, 1 for an internal error. Subcommands just throw: main maps
// every error to its line and status through core/error_outcome.h, the map
// the HTTP edges use too.
#include <iostream>
#include <string>

#include "cli/cli_common.h"
#include "core/error_outcome.h"
#include "core/logging.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"ipfs-accelerate: run Hugging Face models fast on this machine's hardware", "ipfs-accelerate"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ipfs-accelerate 0.1.0");
  ia::cli::Context ctx;
  app.add_option("--threads", ctx.threads, "Worker threads (default: physical cores)")->check(CLI::NonNegativeNumber);
  app.add_flag("-v,--verbose", ctx.verbose, "Log progress to stderr");

  ia::cli::Action action;
  ia::cli::register_embed(app, ctx, action);
  ia::cli::register_tokenize(app, ctx, action);
  ia::cli::register_inspect(app, ctx, action);
  ia::cli::register_hardware(app, ctx, action);
  ia::cli::register_chat_template(app, ctx, action);
  ia::cli::register_generate(app, ctx, action);
  ia::cli::register_chat(app, ctx, action);
  ia::cli::register_dev(app, ctx, action);
  ia::cli::register_ipfs(app, ctx, action);
  ia::cli::register_models(app, ctx, action);

  // Name an unknown command plainly instead of CLI11's "A subcommand is required".
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" || a == "--gateway") {  // options of the root that take a value
      ++i;
      continue;
    }
    if (a.empty() || a[0] == '-') continue;
    bool known = false;
    std::string names;
    for (const CLI::App* sub : app.get_subcommands({})) {
      known = known || sub->get_name() == a;
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      const ia::ErrorOutcome outcome{ia::ErrorKind::InvalidArgument,
                                     "unknown command \"" + a + "\" (commands: " + names + ")"};
      std::cerr << ia::cli_error_line(outcome) << "\n";
      return ia::cli_exit_status(outcome.kind);
    }
    break;
  }

  try {
    app.parse(argc, argv);
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
  return action ? action() : 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (...) {  // ia::Error, ipfs_accelerate::Error, the machine's files, bugs
    const ia::ErrorOutcome outcome = ia::current_error_outcome();
    std::cerr << ia::cli_error_line(outcome) << "\n";
    return ia::cli_exit_status(outcome.kind);
  }
}
