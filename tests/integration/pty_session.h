#pragma once
// Runs the ipfs-accelerate binary on a pseudo-terminal, as a user at a terminal
// would: what it writes comes back as the terminal shows it, keys (and Ctrl-C,
// which the terminal turns into SIGINT) go in.
#include <sys/types.h>

#include <string>
#include <vector>

namespace ia::test {

class PtySession {
 public:
  // Starts IA_CLI_PATH with `args` on a new pseudo-terminal (stdin, stdout and stderr), TERM=xterm.
  explicit PtySession(const std::vector<std::string>& args);
  ~PtySession();  // kills the process if it still runs
  PtySession(const PtySession&) = delete;
  PtySession& operator=(const PtySession&) = delete;

  // Types `keys` ("\r" is Enter, "\x03" Ctrl-C, "\x1b[A" up, "\x1b[D" left).
  void type(const std::string& keys);
  // Reads until `needle` shows up past the previous match, at most `timeout_s`; false on a
  // timeout or when the terminal closed first.
  bool expect(const std::string& needle, double timeout_s = 30);
  // The exit status once the process ends (128 + signal when a signal ended it), reading
  // what it still writes; -1 after `timeout_s` (the process is then killed).
  int wait(double timeout_s = 30);
  // Everything read so far.
  const std::string& output() const { return out_; }

 private:
  // Reads what is there within `timeout_s`; false when the terminal closed.
  bool read_some(double timeout_s);

  pid_t pid_ = -1;
  int fd_ = -1;
  std::string out_;
  size_t matched_ = 0;  // expect() searches from here
  int status_ = -1;
};

}  // namespace ia::test
