#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "core/error.h"
#include "core/progress.h"

namespace ia::cli {

namespace {

using Clock = ProgressTask::Clock;

std::string size_text(uint64_t bytes) {
  const auto b = static_cast<double>(bytes);
  if (bytes < 1000) return fmt::format("{} B", bytes);
  if (bytes < 1000000) return fmt::format("{:.1f} kB", b / 1e3);
  if (bytes < 1000000000) return fmt::format("{:.1f} MB", b / 1e6);
  return fmt::format("{:.2f} GB", b / 1e9);
}

std::string amount_text(uint64_t n, ProgressUnit unit) {
  if (unit == ProgressUnit::Cases) return fmt::format("{} cases", n);
  return unit == ProgressUnit::Bytes ? size_text(n) : fmt::format("{} blocks", n);
}

double seconds_since(const ProgressTask& t, Clock::time_point now) {
  return std::chrono::duration<double>(now - t.started()).count();
}

// Units per second done in this run (not what an earlier run left, as a resumed download's part).
double rate_of(const ProgressTask& t, uint64_t done, double seconds) {
  return seconds > 0 && done > t.done_before() ? static_cast<double>(done - t.done_before()) / seconds : 0.0;
}

std::string rate_text(double rate, ProgressUnit unit) {
  if (unit == ProgressUnit::Blocks) return fmt::format("{:.0f} blocks/s", rate);
  if (unit == ProgressUnit::Cases) return fmt::format("{:.1f} cases/s", rate);
  return size_text(static_cast<uint64_t>(rate)) + "/s";
}

// Columns of the terminal on stderr (80 when it does not say).
int terminal_columns() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

// Columns of UTF-8 text, one per code point (labels are verbs, paths, names and CIDs).
size_t columns(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// The last `cols` columns of `s`, cut between characters.
std::string_view last_columns(std::string_view s, size_t cols) {
  size_t begin = s.size();
  for (size_t seen = 0; begin > 0;) {
    if ((s[begin - 1] & 0xC0) != 0x80 && seen++ == cols) break;
    --begin;
  }
  while (begin < s.size() && (s[begin] & 0xC0) == 0x80) ++begin;  // the bytes of a character left out
  return s.substr(begin);
}

// The label in exactly `width` columns: padded, or shortened in the middle: its first word (what
// is being done) and the end of the rest (a path's or file's end says more than its start).
std::string label_column(const std::string& label, size_t width) {
  std::string out = label;
  if (columns(label) > width) {
    const size_t space = label.find(' ');
    std::string head = space != std::string::npos && columns(label.substr(0, space + 1)) + 4 <= width
                           ? label.substr(0, space + 1)
                           : std::string();
    out =
        head + "…" + std::string(last_columns(std::string_view(label).substr(head.size()), width - columns(head) - 1));
  }
  return out + std::string(width - std::min(width, columns(out)), ' ');
}

class StderrProgress : public ProgressReporter {
 public:
  enum class Mode { Bar, LinesOfLastingTasks, LinesOfEveryTask };
  explicit StderrProgress(Mode mode) : mode_(mode) {
    // What follows the label takes up to 64 columns ("[bar] 350.2 MB / 350.2 MB  321.8 MB/s  ETA 0:01").
    if (mode_ == Mode::Bar) label_width_ = static_cast<size_t>(std::clamp(terminal_columns() - 64, 16, 48));
  }

  void on_start(const ProgressTask& task) override {
    std::lock_guard lock(mu_);
    if (mode_ == Mode::Bar) return draw(task, Clock::now());
    if (mode_ == Mode::LinesOfEveryTask) start_line(task);
  }

  void on_update(const ProgressTask& task) override {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    if (mode_ == Mode::Bar) return draw(task, now);
    if (mode_ == Mode::LinesOfLastingTasks && !announced_.count(&task) && now - task.started() >= kPlainLinesAfter)
      start_line(task);
  }

  void on_end(const ProgressTask& task, bool completed) override {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    const double seconds = seconds_since(task, now);
    if (mode_ == Mode::Bar) {
      if (completed) {
        write("\r" + bar_line(task, std::max(task.done(), task.total()), now, true) + "\x1b[K\n");
        open_line_ = nullptr;
      } else if (open_line_ == &task) {
        write("\n");  // the bar stays as far as it got; the error goes below it
        open_line_ = nullptr;
      }
      return;
    }
    // Quick work says nothing; a failure unannounced is said by its error line alone.
    const bool announced = announced_.erase(&task) > 0;
    if (!announced && (!completed || now - task.started() < kPlainLinesAfter)) return;
    const std::string amount = amount_text(task.done(), task.unit());
    if (completed)
      write(fmt::format("{}: done, {} in {:.1f} s\n", task.label(), amount, seconds));
    else
      write(fmt::format("{}: stopped after {} in {:.1f} s\n", task.label(), amount, seconds));
  }

 private:
  void write(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stderr);  // stderr is unbuffered: one write
    std::fflush(stderr);
  }

  void start_line(const ProgressTask& task) {
    announced_.insert(&task);
    std::string line = task.label();
    if (task.total() > 0) line += " (" + amount_text(task.total(), task.unit()) + ")";
    if (task.done_before() > 0) line += ", resuming at " + amount_text(task.done_before(), task.unit());
    write(line + "\n");
  }

  void draw(const ProgressTask& task, Clock::time_point now) {
    write("\r" + bar_line(task, task.done(), now, false) + "\x1b[K");
    open_line_ = &task;
  }

  // "adding weights.bin   [####----------------] 12.3 MB / 104.9 MB  45.1 MB/s  ETA 0:03";
  // when done "adding weights.bin   [####################] 104.9 MB in 2.3 s  45.1 MB/s".
  std::string bar_line(const ProgressTask& task, uint64_t done, Clock::time_point now, bool finished) const {
    const double seconds = seconds_since(task, now);
    const double rate = rate_of(task, done, seconds);
    const uint64_t total = task.total();
    std::string line = label_column(task.label(), label_width_) + " ";
    if (total > 0 || finished) {
      constexpr int kWidth = 20;
      const double fraction = finished ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
      const auto filled = static_cast<int>(fraction * kWidth);
      line += "[" + std::string(filled, '#') + std::string(kWidth - filled, '-') + "] ";
    }
    if (finished) {
      line += fmt::format("{} in {:.1f} s", amount_text(done, task.unit()), seconds);
    } else if (total > 0) {
      line += task.unit() == ProgressUnit::Bytes ? size_text(std::min(done, total)) + " / " + size_text(total)
                                                 : fmt::format("{} / {} blocks", std::min(done, total), total);
    } else {
      line += amount_text(done, task.unit());
    }
    if (rate > 0) line += "  " + rate_text(rate, task.unit());
    if (!finished && total > done && rate > 0) {
      const auto left = static_cast<long>(static_cast<double>(total - done) / rate + 0.5);
      line += fmt::format("  ETA {}:{:02}", left / 60, left % 60);
    }
    return line;
  }

  const Mode mode_;
  size_t label_width_ = 0;
  std::mutex mu_;
  const ProgressTask* open_line_ = nullptr;  // the task whose bar the cursor is on (Bar)
  std::set<const ProgressTask*> announced_;  // tasks whose start line is out (lines)
};

}  // namespace

ProgressStyle parse_progress_style(const std::string& text) {
  if (text == "auto") return ProgressStyle::Auto;
  if (text == "plain") return ProgressStyle::Plain;
  if (text == "none") return ProgressStyle::None;
  fail(ErrorKind::InvalidArgument, "--progress must be auto, plain or none, got \"{}\"", text);
}

void install_progress_reporter(ProgressStyle style) {
  using Mode = StderrProgress::Mode;
  switch (style) {
    case ProgressStyle::None: return set_progress_reporter(nullptr);
    case ProgressStyle::Plain: return set_progress_reporter(std::make_shared<StderrProgress>(Mode::LinesOfEveryTask));
    case ProgressStyle::Auto:
      return set_progress_reporter(
          std::make_shared<StderrProgress>(::isatty(STDERR_FILENO) ? Mode::Bar : Mode::LinesOfLastingTasks));
  }
}

}  // namespace ia::cli
