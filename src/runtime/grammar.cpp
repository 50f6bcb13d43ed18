#include "runtime/grammar.h"

#include <algorithm>
#include <functional>

#include "core/error.h"

namespace ia::grammar {

int32_t Grammar::add_rule(std::string name) {
  names_.push_back(std::move(name));
  alternatives_.emplace_back();
  return static_cast<int32_t>(names_.size() - 1);
}

void Grammar::set_alternatives(int32_t rule, std::vector<Sequence> alternatives) {
  IA_CHECK(rule >= 0 && static_cast<size_t>(rule) < names_.size(), "grammar: no rule {}", rule);
  alternatives_[static_cast<size_t>(rule)] = std::move(alternatives);
}

ByteSet Grammar::byte(unsigned char c) {
  ByteSet s;
  s.set(c);
  return s;
}

ByteSet Grammar::range(unsigned char lo, unsigned char hi) {
  ByteSet s;
  for (unsigned c = lo; c <= hi; ++c) s.set(c);
  return s;
}

Sequence Grammar::literal(std::string_view text) {
  Sequence s;
  for (char c : text) s.push_back(Symbol::of(byte(static_cast<unsigned char>(c))));
  return s;
}

int32_t Grammar::repeat(const std::string& name, const Sequence& item, int min, int max) {
  // item{min,max}: min copies in a row, then (max - min) nested optional ones (x (x (x)?)?)?, or
  // a right-recursive star when unbounded.
  const int32_t r = add_rule(name);
  Sequence head;
  for (int i = 0; i < min; ++i) head.insert(head.end(), item.begin(), item.end());
  if (max < 0) {
    const int32_t star = add_rule(name + "-star");
    Sequence more = item;
    more.push_back(Symbol::of(star));
    set_alternatives(star, {more, {}});
    head.push_back(Symbol::of(star));
  } else if (max > min) {
    int32_t tail = -1;
    for (int i = max - min; i > 0; --i) {
      const int32_t opt = add_rule(name + "-opt" + std::to_string(i));
      Sequence once = item;
      if (tail >= 0) once.push_back(Symbol::of(tail));
      set_alternatives(opt, {once, {}});
      tail = opt;
    }
    head.push_back(Symbol::of(tail));
  }
  set_alternatives(r, {head});
  return r;
}

void Grammar::finish() {
  const size_t n = names_.size();
  if (root_ < 0 || static_cast<size_t>(root_) >= n) fail(ErrorKind::InvalidArgument, "grammar: no root rule");
  for (size_t r = 0; r < n; ++r) {
    if (alternatives_[r].empty()) fail(ErrorKind::InvalidArgument, "grammar: rule '{}' has no alternatives", names_[r]);
    for (const auto& seq : alternatives_[r])
      for (const auto& s : seq)
        if (s.rule >= static_cast<int32_t>(n))
          fail(ErrorKind::InvalidArgument, "grammar: rule '{}' refers to no rule", names_[r]);
  }
  // Which rules can match nothing, then which rules each can begin with (through nullable
  // prefixes): a cycle there is left recursion, which the matcher would expand forever.
  std::vector<char> nullable(n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      if (nullable[r]) continue;
      for (const auto& seq : alternatives_[r]) {
        const bool all = std::all_of(seq.begin(), seq.end(), [&](const Symbol& s) {
          return s.rule >= 0 && nullable[static_cast<size_t>(s.rule)];
        });
        if (all) {
          nullable[r] = 1;
          changed = true;
          break;
        }
      }
    }
  }
  std::vector<std::vector<int32_t>> first(n);
  for (size_t r = 0; r < n; ++r)
    for (const auto& seq : alternatives_[r])
      for (const auto& s : seq) {
        if (s.rule < 0) break;
        first[r].push_back(s.rule);
        if (!nullable[static_cast<size_t>(s.rule)]) break;
      }
  std::vector<char> state(n, 0);  // 0 unseen, 1 on the path, 2 done
  std::function<void(size_t)> visit = [&](size_t r) {
    state[r] = 1;
    for (int32_t next : first[r]) {
      const auto x = static_cast<size_t>(next);
      if (state[x] == 1) fail(ErrorKind::InvalidArgument, "grammar: rule '{}' is left-recursive", names_[x]);
      if (state[x] == 0) visit(x);
    }
    state[r] = 2;
  };
  for (size_t r = 0; r < n; ++r)
    if (state[r] == 0) visit(r);

  elements_.clear();
  starts_.assign(n, {});
  for (size_t r = 0; r < n; ++r)
    for (const auto& seq : alternatives_[r]) {
      starts_[r].push_back(static_cast<int32_t>(elements_.size()));
      for (const auto& s : seq) elements_.push_back(s.rule >= 0 ? Element{s.rule, {}} : Element{-2, s.bytes});
      elements_.push_back(Element{kEnd, {}});
    }
}

GrammarMatcher::GrammarMatcher(const Grammar& grammar) : g_(&grammar) {
  IA_CHECK(!grammar.elements().empty(), "grammar matcher: the grammar is not finished");
  for (int32_t start : grammar.starts(grammar.root())) expand(Stack{start}, stacks_, 0);
  dedupe(stacks_);
}

void GrammarMatcher::expand(Stack stack, std::vector<Stack>& out, int depth) const {
  const auto& el = g_->elements();
  // Finished alternatives hand over to their callers' continuations.
  while (!stack.empty() && el[static_cast<size_t>(stack.back())].rule == Grammar::kEnd) stack.pop_back();
  if (stack.empty() || el[static_cast<size_t>(stack.back())].rule == -2) {
    if (out.size() >= kMaxStacks) fail(ErrorKind::InvalidArgument, "grammar: too ambiguous to follow");
    out.push_back(std::move(stack));
    return;
  }
  if (depth > static_cast<int>(kMaxDepth) || stack.size() > kMaxDepth)
    fail(ErrorKind::InvalidArgument, "grammar: nested deeper than {}", kMaxDepth);
  const int32_t at = stack.back();
  const int32_t rule = el[static_cast<size_t>(at)].rule;
  stack.pop_back();
  // The caller continues after the reference; a reference last in its alternative leaves nothing
  // to continue with, so right recursion does not grow the stack.
  if (el[static_cast<size_t>(at + 1)].rule != Grammar::kEnd) stack.push_back(at + 1);
  for (int32_t start : g_->starts(rule)) {
    Stack s = stack;
    s.push_back(start);
    expand(std::move(s), out, depth + 1);
  }
}

void GrammarMatcher::dedupe(std::vector<Stack>& stacks) {
  std::sort(stacks.begin(), stacks.end());
  stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
}

bool GrammarMatcher::accept(unsigned char byte) {
  const auto& el = g_->elements();
  std::vector<Stack> next;
  for (const Stack& s : stacks_) {
    if (s.empty() || !el[static_cast<size_t>(s.back())].bytes.test(byte)) continue;
    Stack moved = s;
    ++moved.back();
    expand(std::move(moved), next, 0);
  }
  if (next.empty()) return false;
  dedupe(next);
  stacks_ = std::move(next);
  return true;
}

bool GrammarMatcher::accept(std::string_view bytes) {
  GrammarMatcher copy = *this;
  for (char c : bytes)
    if (!copy.accept(static_cast<unsigned char>(c))) return false;
  *this = std::move(copy);
  return true;
}

bool GrammarMatcher::complete() const {
  return std::any_of(stacks_.begin(), stacks_.end(), [](const Stack& s) { return s.empty(); });
}

bool GrammarMatcher::can_continue() const {
  return std::any_of(stacks_.begin(), stacks_.end(), [](const Stack& s) { return !s.empty(); });
}

ByteSet GrammarMatcher::next_bytes() const {
  ByteSet all;
  for (const Stack& s : stacks_)
    if (!s.empty()) all |= g_->elements()[static_cast<size_t>(s.back())].bytes;
  return all;
}

}  // namespace ia::grammar
