// ipfs-accelerate: JSON on stdout, errors on stderr as one line; exit status 2
// for bad input, 1 for an internal error. Subcommands just throw: main maps
// every error to its line and status, in one place.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "cli/cli_common.h"
#include "core/error.h"
#include "core/logging.h"

namespace {

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

// "ipfs-accelerate: error: …" (2 when the user can fix it, else 1).
int report_error(const std::string& what, bool user_error) {
  std::cerr << "ipfs-accelerate: error: " << one_line(what) << "\n";
  return user_error ? 2 : 1;
}

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
      std::cerr << "ipfs-accelerate: error: unknown command \"" << a << "\" (commands: " << names << ")\n";
      return 2;
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
    std::cerr << "ipfs-accelerate: error: " << one_line(e.what()) << " (see --help)\n";
    return 2;
  }

  ia::init_logging(ctx.verbose);
  return action ? action() : 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const ipfs_accelerate::Error& e) {  // from the public API
    return report_error(e.what(), e.is_user_error());
  } catch (const ia::Error& e) {  // from the layers subcommands use directly (ipfs, models, dev)
    return report_error(e.what(), e.is_user_error());
  } catch (const std::filesystem::filesystem_error& e) {  // the machine's files, not a bug: "unavailable"
    return report_error(e.what(), true);
  } catch (const std::exception& e) {
    std::cerr << "ipfs-accelerate: internal error: " << one_line(e.what()) << "\n";
    return 1;
  }
}
