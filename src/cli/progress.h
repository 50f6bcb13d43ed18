#pragma once
// How the CLI shows the progress the library reports (core/progress.h) on
// stderr. At a terminal, a bar per task redrawn in place (label, bar, amount,
// rate, time left) and left as one line when the task is done. Otherwise (a
// log, a pipe) plain lines, never a redraw: a line when a task has run for a
// second and one when it ends, so quick work prints nothing; with
// `--progress plain` a line as every task starts and ends. Nothing with
// `--quiet` or `--progress none`.
#include <chrono>
#include <string>

namespace ia::cli {

enum class ProgressStyle {
  Auto,   // a bar at a terminal, else plain lines for tasks that last
  Plain,  // plain lines for every task, terminal or not
  None,
};

// A task that runs this long gets its plain lines in Auto style off a terminal.
inline constexpr std::chrono::seconds kPlainLinesAfter{1};

// `--progress` as given: auto, plain or none (InvalidArgument otherwise).
ProgressStyle parse_progress_style(const std::string& text);

// Makes stderr the reporter of every task from now on (None: no reporter).
void install_progress_reporter(ProgressStyle style);

}  // namespace ia::cli
