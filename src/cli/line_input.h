#pragma once
// What an interactive command (`chat`) reads and how Ctrl-C reaches it.
//
// SigintCatcher turns SIGINT into a flag the command polls: between tokens to stop a reply,
// at the prompt to drop the line being typed. A second Ctrl-C before the command took the
// first (a turn stuck in a long prefill) ends the process as SIGINT does.
//
// LineReader reads one line at a time: with line editing and history (Debian's libedit,
// BSD-licensed; GNU readline where the build found only that) when standard input is a
// terminal, plain reads otherwise. Either way a Ctrl-C while it waits returns Interrupted.
#include <cstddef>
#include <string>

namespace ia::cli {

class SigintCatcher {
 public:
  SigintCatcher();   // installs the handler (SA_RESTART: a write to stdout is never cut)
  ~SigintCatcher();  // restores the previous action
  SigintCatcher(const SigintCatcher&) = delete;
  SigintCatcher& operator=(const SigintCatcher&) = delete;

  // A Ctrl-C that came and was not yet taken.
  static bool pending();
  // pending(), and clears it.
  static bool take();
};

class LineReader {
 public:
  enum class Result { Line, Interrupted, End };

  // `edit`: line editing and history (when the build has a line editor); `prompt`: show prompts
  // (on stderr, so that stdout holds only what the command answers).
  LineReader(bool edit, bool prompt);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line, without its newline (or a trailing \r). Interrupted: a Ctrl-C came while
  // waiting (taken; what was typed of the line is dropped, and *typed says whether anything
  // was). End: end of input. A line longer than kMaxCliInputBytes is InvalidArgument.
  Result read(const std::string& prompt, std::string& line, bool* typed);
  // Adds a line to the editing history (up arrow).
  void remember(const std::string& line);
  // Whether lines are edited (a line editor and a terminal).
  bool editing() const { return edit_; }

 private:
  Result read_plain(const std::string& prompt, std::string& line, bool* typed);

  bool edit_, prompt_;
  std::string buffer_;  // plain reads: bytes past the last line returned
  bool eof_ = false;
};

}  // namespace ia::cli
