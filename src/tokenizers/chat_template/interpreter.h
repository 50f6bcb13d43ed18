#pragma once
// Renders a parsed template: a tree walker with jinja2's scoping (a for-loop
// iteration and a macro call get their own scope; if-blocks do not; set
// writes to the innermost scope, `set ns.attr` mutates a namespace) and
// bounds on work, recursion and output so no template can hang or exhaust
// memory. Every failure is an ia::Error naming the template line.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizers/chat_template/ast.h"
#include "tokenizers/chat_template/value.h"

namespace ia::tok::jinja {

struct RenderLimits {
  int64_t max_steps = 1'000'000;        // statements + loop iterations + calls
  int max_call_depth = 100;             // nested macro calls
  int max_eval_depth = 2000;            // nested evaluation (expressions, blocks, calls)
  size_t max_string_bytes = 64u << 20;  // any string, the output included
  size_t max_list_items = 1'000'000;    // any list (range() included)
};

struct Frame {
  std::vector<std::pair<std::string, Value>> vars;
  std::shared_ptr<Frame> parent;
  const Value* lookup(const std::string& name) const;
  void set(const std::string& name, Value v);
};

class Interpreter {
 public:
  explicit Interpreter(RenderLimits limits) : limits_(limits) {}

  std::string render(const Template& t, std::vector<std::pair<std::string, Value>> globals);

  // Used by the builtins (filters, tests, methods).
  [[noreturn]] void error(int line, const std::string& message) const;
  Value call(const Value& fn, CallArgs& args, int line);
  Value filter(const std::string& name, const Value& input, CallArgs& args, int line);
  bool test(const std::string& name, const Value& input, CallArgs& args, int line);
  // jinja2's getattr / getitem: attribute, then item (or the reverse for []).
  Value getattr(const Value& obj, const std::string& name, int line);
  Value getitem(const Value& obj, const Value& key, int line);
  // Items of an iterable (list, tuple, dict keys, string characters); Undefined is empty.
  ValueList iterate(const Value& v, int line);
  void check_string(size_t bytes, int line) const;
  void check_list(size_t items, int line) const;
  void step(int line);
  const RenderLimits& limits() const { return limits_; }
  int64_t now_override = -1;  // strftime_now's clock, seconds since the epoch; -1: the real clock

 private:
  enum class Flow { Normal, Break, Continue };
  struct DepthGuard;

  Flow exec_body(const Body& body, std::string& out, const std::shared_ptr<Frame>& frame);
  Flow exec(const Stmt& s, std::string& out, const std::shared_ptr<Frame>& frame);
  void exec_for(const Stmt& s, std::string& out, const std::shared_ptr<Frame>& frame);
  void exec_set(const Stmt& s, const std::shared_ptr<Frame>& frame);
  Value eval(const Expr& e, const std::shared_ptr<Frame>& frame);
  Value eval_binary(const Expr& e, const std::shared_ptr<Frame>& frame);
  Value eval_call(const Expr& e, const std::shared_ptr<Frame>& frame);
  void eval_args(const Expr& e, size_t first, CallArgs& args, const std::shared_ptr<Frame>& frame);
  // A block's filter chain (`{% set x | f | g %}`, `{% filter f | g %}`), parsed over a null
  // input with the last filter outermost, applied to `v` innermost first.
  Value apply_filter_chain(const Expr& chain, Value v, const std::shared_ptr<Frame>& frame);
  Value make_macro(const Stmt& s, const std::shared_ptr<Frame>& frame);
  void append(std::string& out, const std::string& s, int line) const;

  RenderLimits limits_;
  int64_t steps_ = 0;
  int call_depth_ = 0;
  int eval_depth_ = 0;
};

// Defined in builtins.cpp.
Value apply_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& args, int line);
bool apply_test(Interpreter& in, const std::string& name, const Value& input, CallArgs& args, int line);
// A bound method of a str / list / dict, or Undefined when there is none.
Value get_method(Interpreter& in, const Value& obj, const std::string& name, int line);
// The global functions every template sees (range, namespace, dict, raise_exception, strftime_now).
std::vector<std::pair<std::string, Value>> builtin_globals();
// Python arithmetic helpers shared with filters.
Value binary_op(Interpreter& in, const std::string& op, const Value& a, const Value& b, int line);

}  // namespace ia::tok::jinja
