#pragma once
// Stop strings over streamed text. Fed the text in deltas, it says which part
// is safe to hand out (a tail that could still be the start of a stop string is
// held back) and whether a stop string has appeared; the text ends right
// before the earliest one. Work per delta is proportional to the delta (plus
// the held tail, shorter than the longest stop string), not to the whole text.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ia {

class StopMatcher {
 public:
  // Empty stop strings are refused (InvalidArgument); none at all is fine.
  explicit StopMatcher(std::vector<std::string> stops);

  // Appends `delta`; returns the text that became safe to hand out. After a
  // match it returns the text up to the stop string, then nothing more.
  std::string push(std::string_view delta);
  // End of the text: returns the held tail (nothing once stopped).
  std::string finish();
  // Whether pushing `delta` now would match a stop string; changes nothing.
  bool would_stop(std::string_view delta) const;

  bool stopped() const { return match_.has_value(); }
  // Byte offset in the whole text where the matching stop string begins.
  std::optional<size_t> match_offset() const { return match_; }
  size_t emitted() const { return emitted_; }  // bytes handed out so far

 private:
  // Earliest position in `text` where a stop string begins, if any.
  std::optional<size_t> find_stop(std::string_view text) const;

  std::vector<std::string> stops_;
  std::string held_;  // pushed, not yet handed out: a possible start of a stop string
  size_t emitted_ = 0;
  std::optional<size_t> match_;
};

}  // namespace ia
