#pragma once
// A context-free grammar over bytes, and a matcher that follows it one byte at a time: what
// constrained decoding (response_format json_object / json_schema, forced tool calls) checks
// every candidate token against. The matcher keeps the set of parse stacks consistent with the
// bytes so far (the pushdown automaton of llama.cpp's GBNF grammars, deduplicated after every
// byte), so a grammar may be ambiguous and right-recursive; it must not be left-recursive
// (GrammarBuilder's callers build repetition as right recursion).
#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ia::grammar {

using ByteSet = std::bitset<256>;

// One item of a sequence: a set of bytes to match, or a rule to expand.
struct Symbol {
  int32_t rule = -1;  // >= 0: a rule; else `bytes`
  ByteSet bytes;
  static Symbol of(int32_t r) { return {r, {}}; }
  static Symbol of(ByteSet b) { return {-1, b}; }
};
using Sequence = std::vector<Symbol>;

class Grammar {
 public:
  // Rules are made first (so they can refer to each other), then given their alternatives.
  int32_t add_rule(std::string name);
  void set_alternatives(int32_t rule, std::vector<Sequence> alternatives);
  void set_root(int32_t rule) { root_ = rule; }

  // Conveniences for builders: the byte sets and sequences JSON needs.
  static ByteSet byte(unsigned char c);
  static ByteSet range(unsigned char lo, unsigned char hi);
  static Sequence literal(std::string_view text);  // one symbol per byte
  // A rule matching `item` zero or more times (min..max when max >= 0; small bounds only).
  int32_t repeat(const std::string& name, const Sequence& item, int min, int max);

  // Checks every rule has alternatives, refers to rules that exist and is not left-recursive
  // (an InvalidArgument naming the rule otherwise); flattens for the matcher.
  void finish();

  int32_t root() const { return root_; }
  size_t rules() const { return names_.size(); }
  const std::string& name(int32_t rule) const { return names_[static_cast<size_t>(rule)]; }

  // The flattened form the matcher walks: every alternative is a run of elements ended by kEnd.
  static constexpr int32_t kEnd = -1;
  struct Element {
    int32_t rule = kEnd;  // >= 0: expand this rule; kEnd: end of the alternative; -2: match `bytes`
    ByteSet bytes;
  };
  const std::vector<Element>& elements() const { return elements_; }
  const std::vector<int32_t>& starts(int32_t rule) const { return starts_[static_cast<size_t>(rule)]; }

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<Sequence>> alternatives_;
  int32_t root_ = -1;
  std::vector<Element> elements_;
  std::vector<std::vector<int32_t>> starts_;  // per rule: the element index each alternative begins at
};

// The bytes accepted so far, as the set of parse stacks they leave. Copyable: a caller explores a
// token by copying, advancing and dropping the copy.
class GrammarMatcher {
 public:
  explicit GrammarMatcher(const Grammar& grammar);

  // Takes one byte; false (and the matcher unchanged) when the grammar does not allow it.
  bool accept(unsigned char byte);
  bool accept(std::string_view bytes);  // all or nothing
  // Whether the bytes so far are a whole sentence of the grammar.
  bool complete() const;
  // Whether some byte may follow (false once a complete sentence cannot go on).
  bool can_continue() const;
  // The bytes some stack accepts next (what a candidate token's first byte must be in).
  ByteSet next_bytes() const;

  // Past this many live stacks a grammar is too ambiguous to follow (InvalidArgument); JSON
  // grammars keep a handful.
  static constexpr size_t kMaxStacks = 4096;
  static constexpr size_t kMaxDepth = 4096;  // nesting, in rule expansions

 private:
  using Stack = std::vector<int32_t>;  // element indices; the back is the next element to match
  // Expands the stack's top rule references until each resulting stack's top is a byte set (or
  // the stack is empty: accepted), adding them to `out`.
  void expand(Stack stack, std::vector<Stack>& out, int depth) const;
  static void dedupe(std::vector<Stack>& stacks);

  const Grammar* g_;
  std::vector<Stack> stacks_;
};

}  // namespace ia::grammar
