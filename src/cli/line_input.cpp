#include "cli/line_input.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "cli/cli_common.h"

#if defined(IA_HAVE_LIBEDIT)
#include <editline/readline.h>
#elif defined(IA_HAVE_READLINE)
#include <readline/history.h>
#include <readline/readline.h>
#endif

namespace ia::cli {

namespace {

std::atomic<bool> g_sigint{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the SIGINT flag is set in a signal handler");
struct sigaction g_previous;

void on_sigint(int) {
  // A second Ctrl-C before the first was taken: the command is stuck (a long prefill), quit.
  if (g_sigint.exchange(true)) {
    signal(SIGINT, SIG_DFL);
    raise(SIGINT);  // delivered once this handler returns
  }
}

// Waits until `fd` has input (or an error or hang-up read() will report); false when a Ctrl-C is
// pending. SIGINT is let through only inside ppoll, so one that comes just before the wait
// is not missed.
bool wait_readable(int fd) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  sigset_t during = old;
  sigdelset(&during, SIGINT);
  bool readable = false;
  while (!g_sigint.load()) {
    pollfd p{fd, POLLIN, 0};
    const int r = ppoll(&p, 1, nullptr, &during);
    if (r > 0 || (r < 0 && errno != EINTR)) {
      readable = true;
      break;
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return readable;
}

[[noreturn]] void line_too_long() {
  throw ipfs_accelerate::Error("invalid_argument", "standard input: a line longer than the limit of " +
                                                       std::to_string(kMaxCliInputBytes) + " bytes");
}

#if defined(IA_HAVE_LIBEDIT) || defined(IA_HAVE_READLINE)
bool g_typed = false;        // a key was read since the prompt was shown
bool g_interrupted = false;  // editor_getc ended the line on a Ctrl-C

// The editor's read of one byte: EOF on a Ctrl-C, which makes readline() return at once.
int editor_getc(FILE*) {
  for (;;) {
    if (!wait_readable(STDIN_FILENO)) {
      g_interrupted = true;
      return EOF;
    }
    unsigned char c;
    const ssize_t n = read(STDIN_FILENO, &c, 1);
    if (n == 1) {
      g_typed = true;
      return c;
    }
    if (n < 0 && errno == EINTR) continue;
    return EOF;
  }
}

void init_editor() {
  static bool done = false;
  if (done) return;
  done = true;
  rl_readline_name = "ipfs-accelerate";  // for ~/.editrc / ~/.inputrc
  rl_instream = stdin;
  rl_outstream = stderr;
  rl_catch_signals = 0;  // Ctrl-C is SigintCatcher's
  rl_getc_function = editor_getc;
  rl_inhibit_completion = 1;  // Tab inserts a tab, no file names
  using_history();
  stifle_history(1000);
}
#endif

}  // namespace

SigintCatcher::SigintCatcher() {
  g_sigint = false;
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, &g_previous);
}

SigintCatcher::~SigintCatcher() {
  sigaction(SIGINT, &g_previous, nullptr);
}

bool SigintCatcher::pending() {
  return g_sigint.load();
}

bool SigintCatcher::take() {
  return g_sigint.exchange(false);
}

LineReader::LineReader(bool edit, bool prompt) : edit_(edit), prompt_(prompt) {
#if defined(IA_HAVE_LIBEDIT) || defined(IA_HAVE_READLINE)
  if (edit_) init_editor();
#else
  edit_ = false;
#endif
}

LineReader::~LineReader() = default;

void LineReader::remember(const std::string& line) {
#if defined(IA_HAVE_LIBEDIT) || defined(IA_HAVE_READLINE)
  if (edit_ && !line.empty()) add_history(line.c_str());
#else
  (void)line;
#endif
}

LineReader::Result LineReader::read(const std::string& prompt, std::string& line, bool* typed) {
  *typed = false;
  line.clear();
#if defined(IA_HAVE_LIBEDIT) || defined(IA_HAVE_READLINE)
  if (edit_) {
    g_typed = g_interrupted = false;
    std::unique_ptr<char, decltype(&std::free)> got(readline(prompt_ ? prompt.c_str() : ""), &std::free);
    // A Ctrl-C after the line was complete stays pending: it is for what the line starts.
    if (g_interrupted) {
      SigintCatcher::take();
      *typed = g_typed;
      std::fputs("\n", stderr);  // past the ^C the terminal echoed
      return Result::Interrupted;
    }
    if (!got) {
      if (prompt_) std::fputs("\n", stderr);
      return Result::End;
    }
    line = got.get();
    if (line.size() > kMaxCliInputBytes) line_too_long();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return Result::Line;
  }
#endif
  return read_plain(prompt, line, typed);
}

LineReader::Result LineReader::read_plain(const std::string& prompt, std::string& line, bool* typed) {
  if (prompt_) {
    std::fputs(prompt.c_str(), stderr);
    std::fflush(stderr);
  }
  for (;;) {
    const size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      line.assign(buffer_, 0, nl);
      buffer_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return Result::Line;
    }
    if (buffer_.size() > kMaxCliInputBytes) line_too_long();
    if (eof_) {
      if (buffer_.empty()) return Result::End;
      line = std::move(buffer_);
      buffer_.clear();
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return Result::Line;
    }
    if (!wait_readable(STDIN_FILENO)) {
      SigintCatcher::take();
      *typed = !buffer_.empty();
      buffer_.clear();
      if (prompt_) std::fputs("\n", stderr);
      return Result::Interrupted;
    }
    char chunk[1 << 16];
    const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;  // end of input, or an error (a closed terminal): no more lines either way
      continue;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace ia::cli
