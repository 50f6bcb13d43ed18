#include "providers/stream_readers.h"

#include <fmt/format.h>

#include "providers/provider_error.h"

namespace ia::providers {

namespace {

[[noreturn]] void too_long(size_t max) {
  throw ProviderError(FailureClass::StreamBroken, 0,
                      fmt::format("the stream sent an event or line longer than {} bytes", max));
}

}  // namespace

SseReader::SseReader(OnEvent on_event, size_t max_event_bytes)
    : on_event_(std::move(on_event)), max_(max_event_bytes) {}

bool SseReader::feed(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size() && !stopped_;) {
    const char c = bytes[i];
    if (last_was_cr_ && c == '\n') {  // the LF of a CRLF whose CR ended the line
      last_was_cr_ = false;
      ++i;
      continue;
    }
    last_was_cr_ = false;
    if (c == '\n' || c == '\r') {
      last_was_cr_ = c == '\r';
      const std::string l = std::move(pending_);
      pending_.clear();
      if (!line(l)) stopped_ = true;
      ++i;
      continue;
    }
    // Copy the run up to the next line end at once.
    size_t j = i;
    while (j < bytes.size() && bytes[j] != '\n' && bytes[j] != '\r') ++j;
    if (pending_.size() + (j - i) + event_.data.size() > max_) too_long(max_);
    pending_.append(bytes.substr(i, j - i));
    i = j;
  }
  return !stopped_;
}

bool SseReader::finish() {
  if (stopped_) return false;
  if (!pending_.empty()) {
    const std::string l = std::move(pending_);
    pending_.clear();
    if (!line(l)) return false;
  }
  if (has_data_) return dispatch();
  return true;
}

bool SseReader::line(std::string_view l) {
  if (l.empty()) return has_data_ ? dispatch() : (event_.event.clear(), true);
  if (l.front() == ':') return true;  // comment / keep-alive
  if (l.front() == '{' && !has_data_) {
    event_.data.assign(l);
    has_data_ = true;
    return true;
  }
  const size_t colon = l.find(':');
  const std::string_view field = l.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : l.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) event_.data += '\n';
    if (event_.data.size() + value.size() > max_) too_long(max_);
    event_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_.event.assign(value);
  }
  // id:, retry: and unknown fields are ignored
  return true;
}

bool SseReader::dispatch() {
  const bool go_on = on_event_(event_);
  event_ = SseEvent{};
  has_data_ = false;
  return go_on;
}

LineReader::LineReader(OnLine on_line, size_t max_line_bytes) : on_line_(std::move(on_line)), max_(max_line_bytes) {}

bool LineReader::feed(std::string_view bytes) {
  while (!bytes.empty() && !stopped_) {
    const size_t nl = bytes.find('\n');
    const std::string_view part = bytes.substr(0, nl);
    if (pending_.size() + part.size() > max_) too_long(max_);
    pending_.append(part);
    if (nl == std::string_view::npos) break;
    bytes.remove_prefix(nl + 1);
    std::string l = std::move(pending_);
    pending_.clear();
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (!l.empty() && !on_line_(l)) stopped_ = true;
  }
  return !stopped_;
}

bool LineReader::finish() {
  if (stopped_) return false;
  std::string l = std::move(pending_);
  pending_.clear();
  if (!l.empty() && l.back() == '\r') l.pop_back();
  if (!l.empty()) return on_line_(l);
  return true;
}

}  // namespace ia::providers
