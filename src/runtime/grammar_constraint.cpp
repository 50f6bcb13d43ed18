#include "runtime/grammar_constraint.h"

#include <algorithm>
#include <limits>

#include "tokenizers/token_bytes.h"

namespace ia {

TokenTrie::TokenTrie(const tok::Tokenizer& tokenizer) : bytes_(tok::token_bytes(tokenizer)) {
  nodes_.emplace_back();
  for (size_t id = 0; id < bytes_.size(); ++id) {
    // A token that adds nothing would let a constrained output run on without progress.
    if (!bytes_[id] || bytes_[id]->empty()) continue;
    uint32_t at = 0;
    for (char ch : *bytes_[id]) {
      const auto c = static_cast<unsigned char>(ch);
      auto& kids = nodes_[at].children;
      auto it =
          std::lower_bound(kids.begin(), kids.end(), c, [](const auto& kid, unsigned char b) { return kid.first < b; });
      if (it == kids.end() || it->first != c) {
        const auto next = static_cast<uint32_t>(nodes_.size());
        it = kids.insert(it, {c, next});
        nodes_.emplace_back();  // invalidates `kids`; `next` stays right
        at = next;
      } else {
        at = it->second;
      }
    }
    nodes_[at].tokens.push_back(static_cast<int32_t>(id));
  }
}

GrammarConstraint::GrammarConstraint(std::shared_ptr<const grammar::Grammar> grammar,
                                     std::shared_ptr<const TokenTrie> vocabulary, std::vector<int64_t> eos_ids)
    : grammar_(std::move(grammar)), vocab_(std::move(vocabulary)), eos_(std::move(eos_ids)), matcher_(*grammar_) {}

void GrammarConstraint::visit(uint32_t node, const grammar::GrammarMatcher& matcher) {
  const TokenTrie::Node& n = vocab_->node(node);
  for (int32_t id : n.tokens)
    if (static_cast<size_t>(id) < allowed_.size()) allowed_[static_cast<size_t>(id)] = 1;
  if (n.children.empty()) return;
  const grammar::ByteSet next = matcher.next_bytes();
  for (const auto& [byte, child] : n.children) {
    if (!next.test(byte)) continue;
    grammar::GrammarMatcher m = matcher;
    if (m.accept(byte)) visit(child, m);
  }
}

void GrammarConstraint::mask(float* logits, int64_t vocab, const std::vector<int32_t>& generated) {
  for (; consumed_ < generated.size(); ++consumed_) {
    const int32_t id = generated[consumed_];
    if (id < 0 || id >= vocab_->vocab()) continue;
    // Every token drawn passed this mask, so the matcher takes it; an eos ends the output.
    if (const auto& b = vocab_->bytes(id)) matcher_.accept(*b);
  }
  allowed_.assign(static_cast<size_t>(vocab), 0);
  // The root's own tokens add no bytes and were left out of the trie.
  const TokenTrie::Node& root = vocab_->node(0);
  const grammar::ByteSet next = matcher_.next_bytes();
  for (const auto& [byte, child] : root.children) {
    if (!next.test(byte)) continue;
    grammar::GrammarMatcher m = matcher_;
    if (m.accept(byte)) visit(child, m);
  }
  const bool any = std::find(allowed_.begin(), allowed_.end(), 1) != allowed_.end();
  // A whole sentence may end here; if the vocabulary cannot go on at all, ending is the only way out.
  if (matcher_.complete() || !any)
    for (int64_t e : eos_)
      if (e >= 0 && e < vocab) allowed_[static_cast<size_t>(e)] = 1;
  constexpr float kNever = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < vocab; ++i)
    if (!allowed_[static_cast<size_t>(i)]) logits[i] = kNever;
}

ConstraintFactory grammar_constraint_factory(std::shared_ptr<const grammar::Grammar> grammar,
                                             std::shared_ptr<const TokenTrie> vocabulary,
                                             std::vector<int64_t> eos_ids) {
  return [grammar = std::move(grammar), vocabulary = std::move(vocabulary), eos = std::move(eos_ids)] {
    return std::make_unique<GrammarConstraint>(grammar, vocabulary, eos);
  };
}

}  // namespace ia
