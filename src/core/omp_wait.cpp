#include "core/omp_wait.h"

#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace ia {

std::vector<std::pair<std::string, std::string>> cli_omp_wait_env(
    const std::function<const char*(const char*)>& getenv) {
  if (getenv(kOmpWaitMarker) || getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return {};
  return {{"GOMP_SPINCOUNT", kCliGompSpinCount}};
}

bool cli_args_may_compute(int argc, const char* const* argv) {
  if (argc < 2) return false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h" || a == "--version" || a == "help") return false;
  }
  return true;
}

void reexec_with_cli_omp_wait(int argc, char** argv) {
  if (!cli_args_may_compute(argc, argv)) return;
  const auto vars = cli_omp_wait_env([](const char* name) { return std::getenv(name); });
  if (vars.empty()) return;
  for (const auto& [name, value] : vars) setenv(name.c_str(), value.c_str(), 1);
  setenv(kOmpWaitMarker, "1", 1);
  execv("/proc/self/exe", argv);
  // No /proc, or the binary went away: go on as is. The variables stay for child processes.
}

}  // namespace ia
