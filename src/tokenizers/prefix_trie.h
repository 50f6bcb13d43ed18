#pragma once
// A byte trie answering "which vocabulary entries start at s[pos]?" in one
// walk (Unigram's lattice needs every prefix, not just the longest). Nodes
// keep their children in one flat, sorted edge array so a lookup touches few
// cache lines and the structure has no per-node heap allocation.
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace ia::tok {

class PrefixTrie {
 public:
  // Builds from (key, value) pairs; empty keys are ignored, a repeated key keeps the last value.
  void build(const std::vector<std::pair<std::string_view, int32_t>>& entries);

  // Calls fn(length, value) for every key that is a prefix of s[pos..], shortest first.
  template <typename Fn>
  void for_each_prefix(std::string_view s, size_t pos, Fn&& fn) const {
    if (nodes_.empty()) return;
    uint32_t node = 0;
    for (size_t i = pos; i < s.size(); ++i) {
      const Node& n = nodes_[node];
      const auto b = static_cast<unsigned char>(s[i]);
      const Edge* first = edges_.data() + n.first_edge;
      const Edge* last = first + n.edge_count;
      const Edge* e = std::lower_bound(first, last, b, [](const Edge& x, unsigned char v) { return x.byte < v; });
      if (e == last || e->byte != b) return;
      node = e->child;
      if (nodes_[node].value >= 0) fn(i + 1 - pos, nodes_[node].value);
    }
  }

 private:
  struct Node {
    uint32_t first_edge = 0;
    uint32_t edge_count = 0;
    int32_t value = -1;
  };
  struct Edge {
    unsigned char byte;
    uint32_t child;
  };
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
};

}  // namespace ia::tok
