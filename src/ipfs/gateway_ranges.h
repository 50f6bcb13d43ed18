#pragma once
// HTTP Range requests (RFC 9110 §14) on one block: the entries of a Range
// header resolved against the block's size, sorted and merged where they
// overlap or touch, so that 1,900 overlapping entries become one span and a
// multipart answer never repeats bytes.
#include <cstdint>
#include <utility>
#include <vector>

namespace ia::ipfs {

// One Range entry as cpp-httplib parses it: {first, last} with -1 for a side
// not written ("500-" is {500, -1}; the suffix "-500" is {-1, 500}).
using RangeEntry = std::pair<int64_t, int64_t>;

// Inclusive byte offsets.
struct ByteSpan {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t size() const { return last - first + 1; }
  bool operator==(const ByteSpan&) const = default;
};

// The satisfiable entries as sorted, disjoint, non-adjacent spans; empty when
// none is satisfiable (416).
std::vector<ByteSpan> resolve_ranges(const std::vector<RangeEntry>& entries, uint64_t size);

}  // namespace ia::ipfs
