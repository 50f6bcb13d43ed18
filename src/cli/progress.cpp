#include "cli/progress.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

namespace ia::cli {

namespace {

using Clock = std::chrono::steady_clock;

std::string size_text(uint64_t bytes) {
  const auto b = static_cast<double>(bytes);
  if (bytes < 1000) return fmt::format("{} B", bytes);
  if (bytes < 1000000) return fmt::format("{:.1f} kB", b / 1e3);
  if (bytes < 1000000000) return fmt::format("{:.1f} MB", b / 1e6);
  return fmt::format("{:.2f} GB", b / 1e9);
}

struct State {
  bool tty = ::isatty(2) != 0;
  bool line_open = false;
  Clock::time_point start{}, last_draw{};
  uint64_t start_bytes = 0;
};

std::string bar_line(const hub::FileEvent& e, double seconds, uint64_t start_bytes) {
  std::string name = e.file.size() > 32 ? "…" + e.file.substr(e.file.size() - 31) : e.file;
  std::string line = fmt::format("{:<32} ", name);
  const double rate = seconds > 0 ? static_cast<double>(e.bytes - start_bytes) / 1e6 / seconds : 0.0;
  if (e.total > 0) {
    constexpr int kWidth = 24;
    const auto filled = static_cast<int>(static_cast<double>(e.bytes) / static_cast<double>(e.total) * kWidth);
    line += "[" + std::string(filled, '#') + std::string(kWidth - filled, '-') + "] ";
    line += fmt::format("{} / {}  {:.1f} MB/s", size_text(e.bytes), size_text(e.total), rate);
    if (rate > 0 && e.bytes < e.total) {
      const auto left = static_cast<long>(static_cast<double>(e.total - e.bytes) / 1e6 / rate + 0.5);
      line += fmt::format("  ETA {}:{:02}", left / 60, left % 60);
    }
  } else {
    line += fmt::format("{}  {:.1f} MB/s", size_text(e.bytes), rate);
  }
  return line;
}

}  // namespace

hub::ProgressFn download_progress(const bool* quiet) {
  auto st = std::make_shared<State>();
  return [st, quiet](const hub::FileEvent& e) {
    if (quiet && *quiet) return;
    const auto now = Clock::now();
    using Phase = hub::FileEvent::Phase;
    if (e.phase == Phase::Start) {
      st->start = st->last_draw = now;
      st->start_bytes = e.resumed_from;
    }
    const double seconds = std::chrono::duration<double>(now - st->start).count();
    if (!st->tty) {
      if (e.phase == Phase::Start) {
        std::string size = e.total > 0 ? " (" + size_text(e.total) + ")" : "";
        std::string resumed = e.resumed_from > 0 ? ", resuming at " + size_text(e.resumed_from) : "";
        std::cerr << "downloading " << e.repo << ": " << e.file << size << resumed << "\n";
      } else if (e.phase == Phase::Done) {
        std::cerr << fmt::format("downloaded {}: {} ({} in {:.1f} s)\n", e.repo, e.file, size_text(e.bytes), seconds);
      }
      return;
    }
    switch (e.phase) {
      case Phase::Start:
      case Phase::Bytes:
        if (e.phase == Phase::Bytes && now - st->last_draw < std::chrono::milliseconds(100)) return;
        st->last_draw = now;
        std::cerr << "\r" << bar_line(e, seconds, st->start_bytes) << "\x1b[K" << std::flush;
        st->line_open = true;
        break;
      case Phase::Done:
        std::cerr << "\r" << bar_line(e, seconds, st->start_bytes) << "\x1b[K\n" << std::flush;
        st->line_open = false;
        break;
      case Phase::Failed:
        if (st->line_open) std::cerr << "\n" << std::flush;
        st->line_open = false;
        break;
    }
  };
}

}  // namespace ia::cli
