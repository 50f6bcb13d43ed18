#pragma once
// Constrained decoding: before each token is drawn, every token whose bytes the grammar cannot
// take next gets a logit of -inf; an eos token is allowed only once the output is a whole
// sentence of the grammar (and is then the only choice when nothing may follow). Candidates are
// checked over a trie of the vocabulary's byte strings, so tokens sharing a prefix share the work
// and a subtree the grammar refuses at its first byte is skipped whole.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/grammar.h"
#include "runtime/sampling.h"
#include "tokenizers/tokenizer.h"

namespace ia {

// A tokenizer's vocabulary as byte strings in a trie; built once per model (the first
// constrained request pays for it) and shared by every constrained sequence.
class TokenTrie {
 public:
  explicit TokenTrie(const tok::Tokenizer& tokenizer);
  int64_t vocab() const { return static_cast<int64_t>(bytes_.size()); }
  const std::optional<std::string>& bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }

  struct Node {
    std::vector<std::pair<unsigned char, uint32_t>> children;  // by byte, ascending
    std::vector<int32_t> tokens;                               // tokens whose bytes end here
  };
  const Node& node(uint32_t i) const { return nodes_[i]; }

 private:
  std::vector<std::optional<std::string>> bytes_;
  std::vector<Node> nodes_;  // [0] is the root
};

class GrammarConstraint final : public TokenConstraint {
 public:
  GrammarConstraint(std::shared_ptr<const grammar::Grammar> grammar, std::shared_ptr<const TokenTrie> vocabulary,
                    std::vector<int64_t> eos_ids);
  void mask(float* logits, int64_t vocab, const std::vector<int32_t>& generated) override;

 private:
  void visit(uint32_t node, const grammar::GrammarMatcher& matcher);

  std::shared_ptr<const grammar::Grammar> grammar_;
  std::shared_ptr<const TokenTrie> vocab_;
  std::vector<int64_t> eos_;
  grammar::GrammarMatcher matcher_;
  size_t consumed_ = 0;  // generated tokens the matcher has taken
  std::vector<char> allowed_;
};

// What a request's constraint needs: the grammar and the model's vocabulary and eos ids.
ConstraintFactory grammar_constraint_factory(std::shared_ptr<const grammar::Grammar> grammar,
                                             std::shared_ptr<const TokenTrie> vocabulary, std::vector<int64_t> eos_ids);

}  // namespace ia
