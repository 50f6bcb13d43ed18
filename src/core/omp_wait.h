#pragma once
// How long idle OpenMP workers spin before they sleep, for the CLI. libgomp's default when the
// user has not chosen (OMP_WAIT_POLICY, GOMP_SPINCOUNT unset) is 300000 spins, about 3 ms:
// between two parallel regions every worker busy-waits on its core. On an idle machine that
// costs nothing, but when another process wants one of those cores the spinning worker and it
// take turns in scheduler slices and every region's barrier waits for the descheduled worker
// (qwen2-0.5b bf16 decode on 2 cores with one kept busy: 3-7 tok/s by default against 11-12 tok/s
// with --threads 1). A bounded spin (kCliGompSpinCount) keeps the idle-machine speed and lets a
// worker give its core up within microseconds. libgomp reads the variables once, when it loads,
// before main: the CLI sets them and re-executes itself (reexec_with_cli_omp_wait).
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ia {

// GOMP_SPINCOUNT the CLI runs with when the user sets neither variable (docs/performance.md).
inline constexpr const char* kCliGompSpinCount = "1000";
// Set with the variables, so that the re-executed process never executes itself again.
inline constexpr const char* kOmpWaitMarker = "IA_OMP_WAIT_SET";

// The environment variables (name, value) to set before the OpenMP runtime loads: none when the
// user chose a wait policy or spin count (OMP_WAIT_POLICY or GOMP_SPINCOUNT set, even empty) or
// when the marker says this process is the re-executed one. `getenv` returns nullptr for unset.
std::vector<std::pair<std::string, std::string>> cli_omp_wait_env(
    const std::function<const char*(const char*)>& getenv);

// Whether a command line can run parallel work: not when it asks for help or the version (an
// argument --help, -h, --version or help) or names no command; re-executing would only add the
// start-up time (a few ms) then.
bool cli_args_may_compute(int argc, const char* const* argv);

// For the CLI's main, first thing: when the arguments may compute and cli_omp_wait_env asks for
// variables, sets them and the marker and executes /proc/self/exe again with the same
// arguments; returns only when nothing was needed or the exec failed (then the process goes on
// with the runtime's defaults).
void reexec_with_cli_omp_wait(int argc, char** argv);

}  // namespace ia
