#include "runtime/stop_matcher.h"

#include <algorithm>

#include "core/error.h"

namespace ia {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const auto& s : stops_) {
    if (s.empty()) fail(ErrorKind::InvalidArgument, "stop strings must not be empty");
  }
}

std::optional<size_t> StopMatcher::find_stop(std::string_view text) const {
  std::optional<size_t> best;
  for (const auto& s : stops_) {
    const size_t at = text.find(s);
    if (at != std::string_view::npos && (!best || at < *best)) best = at;
  }
  return best;
}

bool StopMatcher::would_stop(std::string_view delta) const {
  if (stopped() || stops_.empty() || delta.empty()) return false;
  std::string text = held_;
  text.append(delta);
  return find_stop(text).has_value();
}

std::string StopMatcher::push(std::string_view delta) {
  if (stopped()) return {};
  if (stops_.empty()) {
    emitted_ += delta.size();
    return std::string(delta);
  }
  // held_ holds no whole stop string (it would have matched already) but every
  // byte before it that a stop string could still start at, so searching
  // held_ + delta finds each new match.
  std::string text = std::move(held_);
  held_.clear();
  text.append(delta);
  if (const auto at = find_stop(text)) {
    text.resize(*at);
    match_ = emitted_ + *at;
    emitted_ += text.size();
    return text;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const auto& s : stops_) {
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k) {
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  held_ = text.substr(text.size() - hold);
  text.resize(text.size() - hold);
  emitted_ += text.size();
  return text;
}

std::string StopMatcher::finish() {
  if (stopped()) return {};
  std::string rest = std::move(held_);
  held_.clear();
  emitted_ += rest.size();
  return rest;
}

}  // namespace ia
