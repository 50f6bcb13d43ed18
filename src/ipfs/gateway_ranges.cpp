#include "ipfs/gateway_ranges.h"

#include <algorithm>

namespace ia::ipfs {

std::vector<ByteSpan> resolve_ranges(const std::vector<RangeEntry>& entries, uint64_t size) {
  std::vector<ByteSpan> spans;
  if (size == 0) return spans;
  for (const auto& [first, last] : entries) {
    ByteSpan s;
    if (first < 0) {  // suffix: the last `last` bytes
      if (last <= 0) continue;
      s.first = size - std::min<uint64_t>(static_cast<uint64_t>(last), size);
      s.last = size - 1;
    } else {
      if (static_cast<uint64_t>(first) >= size) continue;
      if (last >= 0 && last < first) continue;
      s.first = static_cast<uint64_t>(first);
      s.last = last < 0 ? size - 1 : std::min<uint64_t>(static_cast<uint64_t>(last), size - 1);
    }
    spans.push_back(s);
  }
  std::sort(spans.begin(), spans.end(), [](const ByteSpan& a, const ByteSpan& b) { return a.first < b.first; });
  std::vector<ByteSpan> merged;
  for (const ByteSpan& s : spans) {
    if (!merged.empty() && s.first <= merged.back().last + 1)
      merged.back().last = std::max(merged.back().last, s.last);
    else
      merged.push_back(s);
  }
  return merged;
}

}  // namespace ia::ipfs
