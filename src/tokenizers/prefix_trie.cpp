#include "tokenizers/prefix_trie.h"

#include <numeric>

namespace ia::tok {

void PrefixTrie::build(const std::vector<std::pair<std::string_view, int32_t>>& entries) {
  nodes_.clear();
  edges_.clear();
  // Sorting the keys lets us create nodes breadth-first per depth without a
  // pointer-based intermediate trie: children of one node are a contiguous,
  // already sorted run of keys that share its prefix.
  std::vector<uint32_t> order(entries.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return entries[a].first < entries[b].first; });
  std::vector<std::pair<std::string_view, int32_t>> keys;
  keys.reserve(order.size());
  for (uint32_t i : order) {
    if (entries[i].first.empty()) continue;
    if (!keys.empty() && keys.back().first == entries[i].first) {
      keys.back().second = entries[i].second;  // stable sort: the later entry wins
    } else {
      keys.push_back(entries[i]);
    }
  }
  nodes_.push_back(Node{});
  // Work items: (node, key range [lo, hi), depth) with every key in range sharing `depth` bytes.
  struct Item {
    uint32_t node;
    size_t lo, hi, depth;
  };
  std::vector<Item> queue{{0, 0, keys.size(), 0}};
  for (size_t qi = 0; qi < queue.size(); ++qi) {
    const Item it = queue[qi];
    size_t lo = it.lo;
    // The key equal to the prefix itself (length == depth) sorts first.
    while (lo < it.hi && keys[lo].first.size() == it.depth) ++lo;
    nodes_[it.node].first_edge = static_cast<uint32_t>(edges_.size());
    uint32_t count = 0;
    for (size_t i = lo; i < it.hi;) {
      const auto b = static_cast<unsigned char>(keys[i].first[it.depth]);
      size_t j = i + 1;
      while (j < it.hi && static_cast<unsigned char>(keys[j].first[it.depth]) == b) ++j;
      const auto child = static_cast<uint32_t>(nodes_.size());
      nodes_.push_back(Node{});
      if (keys[i].first.size() == it.depth + 1) nodes_[child].value = keys[i].second;
      edges_.push_back(Edge{b, child});
      ++count;
      queue.push_back(Item{child, i, j, it.depth + 1});
      i = j;
    }
    nodes_[it.node].edge_count = count;
  }
}

}  // namespace ia::tok
