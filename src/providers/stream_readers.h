#pragma once
// Incremental readers of the two streaming framings remote APIs use, fed the
// bytes as they arrive and bounded: a line or event longer than the bound is a
// ProviderError (StreamBroken), so a hostile or broken server cannot make us
// buffer without end.
//
// SseReader follows the WHATWG event-stream rules the providers rely on: lines
// end in LF, CRLF or CR; a blank line dispatches the event; "data:" may or may
// not be followed by one space (TGI omits it) and several data lines are joined
// with LF; "event:" names the event (Anthropic); lines starting with ':' are
// comments (keep-alives). One extension: a line that starts with '{' outside
// any field is taken as a data line, because OVMS writes a raw {"error":…}
// line into its SSE streams.
//
// LineReader splits NDJSON (Ollama's native streams) into non-empty lines.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace ia::providers {

inline constexpr size_t kMaxStreamEventBytes = 4u << 20;

struct SseEvent {
  std::string event;  // "" when the event named none ("message")
  std::string data;
};

class SseReader {
 public:
  // Returns false to stop reading (the rest of the bytes fed are dropped).
  using OnEvent = std::function<bool(const SseEvent&)>;
  explicit SseReader(OnEvent on_event, size_t max_event_bytes = kMaxStreamEventBytes);
  // False once on_event asked to stop.
  bool feed(std::string_view bytes);
  // End of the stream: an event still pending without its blank line is dispatched, as
  // browsers do not (but servers that close right after the last data line exist).
  bool finish();

 private:
  bool line(std::string_view l);
  bool dispatch();
  OnEvent on_event_;
  size_t max_;
  std::string pending_;  // the current partial line
  SseEvent event_;
  bool has_data_ = false, stopped_ = false, last_was_cr_ = false;
};

class LineReader {
 public:
  using OnLine = std::function<bool(std::string_view)>;
  explicit LineReader(OnLine on_line, size_t max_line_bytes = kMaxStreamEventBytes);
  bool feed(std::string_view bytes);
  bool finish();

 private:
  OnLine on_line_;
  size_t max_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace ia::providers
