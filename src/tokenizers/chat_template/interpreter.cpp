// The tree-walking renderer (see interpreter.h).
#include "tokenizers/chat_template/interpreter.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_map>

#include "core/error.h"
#include "tokenizers/chat_template/py_string.h"

namespace ia::tok::jinja {

const Value* Frame::lookup(const std::string& name) const {
  for (const Frame* f = this; f; f = f->parent.get()) {
    for (const auto& [k, v] : f->vars) {
      if (k == name) return &v;
    }
  }
  return nullptr;
}

void Frame::set(const std::string& name, Value v) {
  for (auto& [k, old] : vars) {
    if (k == name) {
      old = std::move(v);
      return;
    }
  }
  vars.emplace_back(name, std::move(v));
}

struct Interpreter::DepthGuard {
  DepthGuard(Interpreter& in, int line) : in_(in) {
    if (++in_.eval_depth_ > in_.limits_.max_eval_depth) {
      in_.error(line, "template recursion too deep (more than " + std::to_string(in_.limits_.max_eval_depth) +
                          " nested evaluations)");
    }
  }
  ~DepthGuard() { --in_.eval_depth_; }
  Interpreter& in_;
};

void Interpreter::error(int line, const std::string& message) const {
  fail(ErrorKind::InvalidArgument, "chat template error at line {}: {}", line, message);
}

void Interpreter::check_string(size_t bytes, int line) const {
  if (bytes > limits_.max_string_bytes) {
    error(line, "string longer than the limit of " + std::to_string(limits_.max_string_bytes) + " bytes");
  }
}

void Interpreter::check_list(size_t items, int line) const {
  if (items > limits_.max_list_items) {
    error(line, "list longer than the limit of " + std::to_string(limits_.max_list_items) + " items");
  }
}

void Interpreter::step(int line) {
  if (++steps_ > limits_.max_steps) {
    error(line, "template did too much work (more than " + std::to_string(limits_.max_steps) + " steps)");
  }
}

void Interpreter::append(std::string& out, const std::string& s, int line) const {
  check_string(out.size() + s.size(), line);
  out += s;
}

std::string Interpreter::render(const Template& t, std::vector<std::pair<std::string, Value>> globals) {
  auto root = std::make_shared<Frame>();
  root->vars = builtin_globals();
  for (auto& [k, v] : globals) root->set(k, std::move(v));
  auto top = std::make_shared<Frame>();
  top->parent = root;
  std::string out;
  exec_body(t.body, out, top);
  return out;
}

Interpreter::Flow Interpreter::exec_body(const Body& body, std::string& out, const std::shared_ptr<Frame>& frame) {
  for (const auto& s : body) {
    Flow f = exec(*s, out, frame);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

Value Interpreter::apply_filter_chain(const Expr& chain, Value v, const std::shared_ptr<Frame>& frame) {
  std::vector<const Expr*> filters;
  for (const Expr* f = &chain; f; f = f->a.get()) filters.push_back(f);
  for (auto it = filters.rbegin(); it != filters.rend(); ++it) {
    CallArgs args;
    eval_args(**it, 0, args, frame);
    v = filter((*it)->name, v, args, (*it)->line);
  }
  return v;
}

Interpreter::Flow Interpreter::exec(const Stmt& s, std::string& out, const std::shared_ptr<Frame>& frame) {
  step(s.line);
  DepthGuard guard(*this, s.line);
  switch (s.kind) {
    case StmtKind::Text: append(out, s.text, s.line); return Flow::Normal;
    case StmtKind::Output: append(out, eval(*s.expr, frame).to_str(), s.line); return Flow::Normal;
    case StmtKind::If:
      for (size_t i = 0; i < s.conds.size(); ++i) {
        if (eval(*s.conds[i], frame).truthy()) return exec_body(s.bodies[i], out, frame);
      }
      return exec_body(s.else_body, out, frame);
    case StmtKind::For: exec_for(s, out, frame); return Flow::Normal;
    case StmtKind::Set: exec_set(s, frame); return Flow::Normal;
    case StmtKind::SetBlock: {
      std::string buf;
      exec_body(s.bodies[0], buf, frame);
      Value v(std::move(buf));
      if (s.expr) {
        // The filter chain was parsed over a null input; feed it the block's text.
        v = apply_filter_chain(*s.expr, std::move(v), frame);
      }
      frame->set(s.text, std::move(v));
      return Flow::Normal;
    }
    case StmtKind::FilterBlock: {
      std::string buf;
      exec_body(s.bodies[0], buf, frame);
      Value v(std::move(buf));
      v = apply_filter_chain(*s.expr, std::move(v), frame);
      append(out, v.to_str(), s.line);
      return Flow::Normal;
    }
    case StmtKind::Macro: frame->set(s.text, make_macro(s, frame)); return Flow::Normal;
    case StmtKind::CallBlock: {
      // `caller` is a macro made of the block body, passed to the called macro.
      Value caller = make_macro(s, frame);
      const Expr& call = *s.expr;
      Value fn = eval(*call.a, frame);
      CallArgs args;
      eval_args(call, 0, args, frame);
      args.keyword.emplace_back("caller", caller);
      append(out, this->call(fn, args, s.line).to_str(), s.line);
      return Flow::Normal;
    }
    case StmtKind::Break: return Flow::Break;
    case StmtKind::Continue: return Flow::Continue;
    case StmtKind::Generation: return exec_body(s.bodies[0], out, frame);
  }
  return Flow::Normal;
}

namespace {

void bind_targets(Interpreter& in, Frame& f, const std::vector<std::string>& names, const Value& v, int line) {
  if (names.size() == 1) {
    f.set(names[0], v);
    return;
  }
  ValueList parts = in.iterate(v, line);
  if (parts.size() != names.size()) {
    in.error(line, "cannot unpack " + std::to_string(parts.size()) + " values into " + std::to_string(names.size()) +
                       " names");
  }
  for (size_t i = 0; i < names.size(); ++i) f.set(names[i], parts[i]);
}

}  // namespace

void Interpreter::exec_for(const Stmt& s, std::string& out, const std::shared_ptr<Frame>& frame) {
  Value iterable = eval(*s.expr, frame);
  ValueList items = iterate(iterable, s.line);
  if (s.cond) {
    // `for x in xs if cond`: filtered before the loop, so loop.length counts what is kept.
    ValueList kept;
    for (const auto& item : items) {
      step(s.line);
      auto f = std::make_shared<Frame>();
      f->parent = frame;
      bind_targets(*this, *f, s.targets, item, s.line);
      if (eval(*s.cond, f).truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    exec_body(s.else_body, out, frame);
    return;
  }
  const auto n = static_cast<int64_t>(items.size());
  auto shared_items = std::make_shared<ValueList>(std::move(items));
  for (int64_t i = 0; i < n; ++i) {
    step(s.line);
    auto f = std::make_shared<Frame>();
    f->parent = frame;
    const Value& item = (*shared_items)[static_cast<size_t>(i)];
    bind_targets(*this, *f, s.targets, item, s.line);
    ValueDict loop;
    loop.emplace_back(Value("index"), Value(i + 1));
    loop.emplace_back(Value("index0"), Value(i));
    loop.emplace_back(Value("revindex"), Value(n - i));
    loop.emplace_back(Value("revindex0"), Value(n - i - 1));
    loop.emplace_back(Value("first"), Value(i == 0));
    loop.emplace_back(Value("last"), Value(i == n - 1));
    loop.emplace_back(Value("length"), Value(n));
    loop.emplace_back(Value("depth"), Value(int64_t{1}));
    loop.emplace_back(Value("depth0"), Value(int64_t{0}));
    loop.emplace_back(Value("previtem"), i > 0 ? (*shared_items)[static_cast<size_t>(i - 1)]
                                               : Value::undefined("there is no previous item"));
    loop.emplace_back(Value("nextitem"), i + 1 < n ? (*shared_items)[static_cast<size_t>(i + 1)]
                                                   : Value::undefined("there is no next item"));
    loop.emplace_back(Value("cycle"), Value::function("loop.cycle", [i](Interpreter& in, CallArgs& a) {
                        if (a.positional.empty()) in.error(a.line, "no items for cycling given");
                        return a.positional[static_cast<size_t>(i) % a.positional.size()];
                      }));
    f->set("loop", Value::dict(std::move(loop)));
    Flow fl = exec_body(s.bodies[0], out, f);
    if (fl == Flow::Break) break;
  }
}

void Interpreter::exec_set(const Stmt& s, const std::shared_ptr<Frame>& frame) {
  Value v = eval(*s.expr, frame);
  if (!s.attr.empty()) {
    const Value* ns = frame->lookup(s.targets[0]);
    if (!ns || !ns->is_namespace()) error(s.line, "cannot assign attribute on non-namespace object");
    if (v.is_namespace() || v.holds_namespace()) error(s.line, "a namespace cannot hold a namespace");
    ValueDict& attrs = ns->mutable_entries();
    for (auto& [k, old] : attrs) {
      if (k.is_string() && k.str() == s.attr) {
        old = std::move(v);
        return;
      }
    }
    attrs.emplace_back(Value(s.attr), std::move(v));
    return;
  }
  bind_targets(*this, *frame, s.targets, v, s.line);
}

Value Interpreter::make_macro(const Stmt& s, const std::shared_ptr<Frame>& frame) {
  const Stmt* def = &s;
  // Weak: a macro is stored in the frame it closes over, and a strong
  // reference would be a cycle. That frame outlives every call made while
  // it renders.
  std::weak_ptr<Frame> weak = frame;
  return Value::function(s.kind == StmtKind::Macro ? s.text : "caller", [def, weak](Interpreter& in, CallArgs& a) {
    auto parent = weak.lock();
    if (!parent) in.error(a.line, "macro '" + def->text + "' called outside of its scope");
    if (++in.call_depth_ > in.limits_.max_call_depth) {
      --in.call_depth_;
      in.error(a.line, "macro calls nested too deeply (more than " + std::to_string(in.limits_.max_call_depth) + ")");
    }
    struct Leave {
      Interpreter& in;
      ~Leave() { --in.call_depth_; }
    } leave{in};
    in.step(def->line);
    auto f = std::make_shared<Frame>();
    f->parent = parent;
    const auto& params = def->targets;
    ValueList varargs;
    ValueDict kwargs;
    for (size_t i = 0; i < a.positional.size(); ++i) {
      if (i < params.size()) {
        f->set(params[i], a.positional[i]);
      } else {
        varargs.push_back(a.positional[i]);
      }
    }
    for (auto& [k, v] : a.keyword) {
      bool is_param = false;
      for (const auto& p : params) is_param = is_param || p == k;
      if (is_param || k == "caller") {
        f->set(k, v);
      } else {
        kwargs.emplace_back(Value(k), v);
      }
    }
    for (size_t i = 0; i < params.size(); ++i) {
      bool bound = false;
      for (const auto& [k, v] : f->vars) bound = bound || k == params[i];
      if (bound) continue;
      if (def->defaults[i]) {
        f->set(params[i], in.eval(*def->defaults[i], f));
      } else {
        f->set(params[i], Value::undefined("parameter '" + params[i] + "' was not provided"));
      }
    }
    f->set("varargs", Value::list(std::move(varargs), true));
    f->set("kwargs", Value::dict(std::move(kwargs)));
    std::string out;
    in.exec_body(def->bodies[0], out, f);
    return Value(std::move(out));
  });
}

Value Interpreter::call(const Value& fn, CallArgs& args, int line) {
  if (fn.is_undefined()) error(line, fn.str().empty() ? "call of an undefined value" : fn.str());
  if (!fn.is_callable()) error(line, std::string("'") + fn.type_name() + "' object is not callable");
  DepthGuard guard(*this, line);
  args.line = line;
  return fn.fn()(*this, args);
}

Value Interpreter::filter(const std::string& name, const Value& input, CallArgs& args, int line) {
  args.line = line;
  Value v = apply_filter(*this, name, input, args, line);
  if (v.is_string()) check_string(v.str().size(), line);
  return v;
}

bool Interpreter::test(const std::string& name, const Value& input, CallArgs& args, int line) {
  args.line = line;
  return apply_test(*this, name, input, args, line);
}

namespace {

std::string undefined_message(const Value& v) {
  return v.str().empty() ? "value is undefined" : v.str();
}

}  // namespace

Value Interpreter::getattr(const Value& obj, const std::string& name, int line) {
  if (obj.is_undefined()) error(line, undefined_message(obj));
  if (obj.is_namespace()) {
    if (const Value* v = obj.find(name)) return *v;
    return Value::undefined("'Namespace' object has no attribute '" + name + "'");
  }
  Value m = get_method(*this, obj, name, line);
  if (!m.is_undefined()) return m;
  if (obj.is_dict()) {
    if (const Value* v = obj.find(name)) return *v;
    return Value::undefined("'dict object' has no attribute '" + name + "'");
  }
  return Value::undefined(std::string("'") + obj.type_name() + " object' has no attribute '" + name + "'");
}

namespace {

// Python index normalization; false when out of range.
bool norm_index(int64_t& i, size_t n) {
  if (i < 0) i += static_cast<int64_t>(n);
  return i >= 0 && i < static_cast<int64_t>(n);
}

}  // namespace

Value Interpreter::getitem(const Value& obj, const Value& key, int line) {
  if (obj.is_undefined()) error(line, undefined_message(obj));
  if (obj.is_dict()) {
    if (const Value* v = obj.find(key)) return *v;
    if (key.is_string()) {
      Value m = get_method(*this, obj, key.str(), line);
      if (!m.is_undefined()) return m;
    }
    return Value::undefined("'dict object' has no attribute " + key.repr());
  }
  if ((obj.is_list() || obj.is_string()) && key.is_number() && !key.is_float()) {
    int64_t i = key.as_int();
    if (obj.is_list()) {
      if (norm_index(i, obj.items().size())) return obj.items()[static_cast<size_t>(i)];
    } else {
      py::U32 u = py::decode(obj.str());
      if (norm_index(i, u.size())) return Value(py::encode(u.substr(static_cast<size_t>(i), 1)));
    }
    return Value::undefined(std::string("'") + obj.type_name() + " object' has no element " + key.repr());
  }
  if (key.is_string()) return getattr(obj, key.str(), line);
  return Value::undefined(std::string("'") + obj.type_name() + " object' has no element " + key.repr());
}

ValueList Interpreter::iterate(const Value& v, int line) {
  switch (v.type()) {
    case Type::Undefined: return {};
    case Type::List: return v.items();
    case Type::Dict: {
      ValueList keys;
      for (const auto& [k, val] : v.entries()) keys.push_back(k);
      return keys;
    }
    case Type::String: {
      ValueList chars;
      for (char32_t c : py::decode(v.str())) {
        std::string s;
        py::append(s, c);
        chars.emplace_back(std::move(s));
      }
      return chars;
    }
    default: error(line, std::string("'") + v.type_name() + "' object is not iterable");
  }
}

void Interpreter::eval_args(const Expr& e, size_t first, CallArgs& args, const std::shared_ptr<Frame>& frame) {
  const size_t nkw = e.kwnames.size();
  const size_t npos = e.items.size() - nkw;
  for (size_t i = first; i < npos; ++i) args.positional.push_back(eval(*e.items[i], frame));
  for (size_t i = 0; i < nkw; ++i) args.keyword.emplace_back(e.kwnames[i], eval(*e.items[npos + i], frame));
  args.line = e.line;
}

Value Interpreter::eval(const Expr& e, const std::shared_ptr<Frame>& frame) {
  DepthGuard guard(*this, e.line);
  switch (e.kind) {
    case ExprKind::Literal: return e.value;
    case ExprKind::Name: {
      if (const Value* v = frame->lookup(e.name)) return *v;
      return Value::undefined("'" + e.name + "' is undefined");
    }
    case ExprKind::List:
    case ExprKind::Tuple: {
      ValueList items;
      for (const auto& i : e.items) items.push_back(eval(*i, frame));
      return Value::list(std::move(items), e.kind == ExprKind::Tuple);
    }
    case ExprKind::Dict: {
      ValueDict items;
      // String keys (nearly all) are found through a hash index, so a long
      // literal is not quadratic; other keys compare against every entry.
      std::unordered_map<std::string, size_t> string_keys;
      for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
        Value k = eval(*e.items[i], frame);
        Value v = eval(*e.items[i + 1], frame);
        if (k.is_string()) {
          auto [it, fresh] = string_keys.emplace(k.str(), items.size());
          if (fresh) {
            items.emplace_back(std::move(k), std::move(v));
          } else {
            items[it->second].second = std::move(v);
          }
          continue;
        }
        bool replaced = false;
        for (auto& [ek, ev] : items) {
          if (equals(ek, k)) {
            ev = v;
            replaced = true;
          }
        }
        if (!replaced) items.emplace_back(std::move(k), std::move(v));
      }
      return Value::dict(std::move(items));
    }
    case ExprKind::GetAttr: return getattr(eval(*e.a, frame), e.name, e.line);
    case ExprKind::GetItem: return getitem(eval(*e.a, frame), eval(*e.b, frame), e.line);
    case ExprKind::Slice: {
      Value obj = eval(*e.a, frame);
      if (obj.is_undefined()) error(e.line, undefined_message(obj));
      std::optional<int64_t> parts[3];
      for (int k = 0; k < 3; ++k) {
        if (!e.items[static_cast<size_t>(k)]) continue;
        Value p = eval(*e.items[static_cast<size_t>(k)], frame);
        if (p.is_none()) continue;
        if (!p.is_number() || p.is_float()) error(e.line, "slice indices must be integers or None");
        parts[k] = p.as_int();
      }
      const int64_t step = parts[2].value_or(1);
      if (step == 0) error(e.line, "slice step cannot be zero");
      if (!obj.is_list() && !obj.is_string()) {
        error(e.line, std::string("'") + obj.type_name() + "' object is not subscriptable");
      }
      py::U32 u;
      const int64_t n = obj.is_list() ? static_cast<int64_t>(obj.items().size())
                                      : static_cast<int64_t>((u = py::decode(obj.str())).size());
      auto clamp = [&](std::optional<int64_t> v, int64_t def) {
        if (!v) return def;
        int64_t x = *v;
        if (x < 0) x += n;
        if (step > 0) return std::clamp<int64_t>(x, 0, n);
        return std::clamp<int64_t>(x, -1, n - 1);
      };
      const int64_t start = clamp(parts[0], step > 0 ? 0 : n - 1);
      const int64_t stop = clamp(parts[1], step > 0 ? n : -1);
      ValueList items;
      py::U32 chars;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (obj.is_list()) {
          items.push_back(obj.items()[static_cast<size_t>(i)]);
        } else {
          chars.push_back(u[static_cast<size_t>(i)]);
        }
        if (step > 0 ? i > INT64_MAX - step : i < INT64_MIN - step) break;  // i += step would overflow
      }
      if (obj.is_string()) return Value(py::encode(chars));
      return Value::list(std::move(items), obj.is_tuple());
    }
    case ExprKind::Call: return eval_call(e, frame);
    case ExprKind::Filter: {
      Value input = eval(*e.a, frame);
      CallArgs args;
      eval_args(e, 0, args, frame);
      return filter(e.name, input, args, e.line);
    }
    case ExprKind::Test: {
      Value input = eval(*e.a, frame);
      CallArgs args;
      eval_args(e, 0, args, frame);
      bool r = test(e.name, input, args, e.line);
      return Value(e.negated ? !r : r);
    }
    case ExprKind::Unary: {
      Value v = eval(*e.a, frame);
      if (e.name == "not") return Value(!v.truthy());
      if (!v.is_number()) {
        if (v.is_undefined()) error(e.line, undefined_message(v));
        error(e.line, std::string("bad operand type for unary ") + e.name + ": '" + v.type_name() + "'");
      }
      if (e.name == "+") return v.is_bool() ? Value(v.as_int()) : v;
      if (v.is_float()) return Value(-v.as_float());
      if (v.as_int() == INT64_MIN) error(e.line, "integer overflow");
      return Value(-v.as_int());
    }
    case ExprKind::Binary: return eval_binary(e, frame);
    case ExprKind::CondExpr: {
      if (eval(*e.a, frame).truthy()) return eval(*e.items[0], frame);
      if (e.items[1]) return eval(*e.items[1], frame);
      return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
    }
  }
  return Value();
}

Value Interpreter::eval_call(const Expr& e, const std::shared_ptr<Frame>& frame) {
  Value fn = eval(*e.a, frame);
  CallArgs args;
  eval_args(e, 0, args, frame);
  return call(fn, args, e.line);
}

Value Interpreter::eval_binary(const Expr& e, const std::shared_ptr<Frame>& frame) {
  if (e.name == "and") {
    Value a = eval(*e.a, frame);
    return a.truthy() ? eval(*e.b, frame) : a;
  }
  if (e.name == "or") {
    Value a = eval(*e.a, frame);
    return a.truthy() ? a : eval(*e.b, frame);
  }
  Value a = eval(*e.a, frame);
  Value b = eval(*e.b, frame);
  return binary_op(*this, e.name, a, b, e.line);
}

namespace {

[[noreturn]] void type_error(Interpreter& in, const std::string& op, const Value& a, const Value& b, int line) {
  if (a.is_undefined()) in.error(line, undefined_message(a));
  if (b.is_undefined()) in.error(line, undefined_message(b));
  in.error(line, "unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
}

template <typename Op>
int64_t checked(Interpreter& in, Op op, int64_t a, int64_t b, int line) {
  int64_t r = 0;
  if (op(a, b, &r)) in.error(line, "integer overflow");
  return r;
}
bool add_ov(int64_t a, int64_t b, int64_t* r) {
  return __builtin_add_overflow(a, b, r);
}
bool sub_ov(int64_t a, int64_t b, int64_t* r) {
  return __builtin_sub_overflow(a, b, r);
}
bool mul_ov(int64_t a, int64_t b, int64_t* r) {
  return __builtin_mul_overflow(a, b, r);
}

Value repeat(Interpreter& in, const Value& seq, int64_t n, int line) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    if (!seq.str().empty())
      in.check_string(seq.str().size() * static_cast<size_t>(std::min<int64_t>(n, 1 << 30)), line);
    if (seq.str().empty()) return Value(std::string());
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.str();
    return Value(std::move(out));
  }
  if (!seq.items().empty())
    in.check_list(seq.items().size() * static_cast<size_t>(std::min<int64_t>(n, 1 << 30)), line);
  if (seq.items().empty()) return Value::list({}, seq.is_tuple());
  ValueList out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return Value::list(std::move(out), seq.is_tuple());
}

bool contains(Interpreter& in, const Value& container, const Value& item, int line) {
  switch (container.type()) {
    case Type::String:
      if (!item.is_string()) {
        if (item.is_undefined()) in.error(line, undefined_message(item));
        in.error(line, std::string("'in <string>' requires string as left operand, not ") + item.type_name());
      }
      return container.str().find(item.str()) != std::string::npos;
    case Type::List:
      for (const auto& v : container.items()) {
        if (equals(v, item)) return true;
      }
      return false;
    case Type::Dict: return container.find(item) != nullptr;
    case Type::Undefined: return false;  // jinja2's Undefined iterates as empty
    default: in.error(line, std::string("argument of type '") + container.type_name() + "' is not iterable");
  }
}

}  // namespace

Value binary_op(Interpreter& in, const std::string& op, const Value& a, const Value& b, int line) {
  if (op == "~") {
    std::string s = a.to_str();
    std::string t = b.to_str();
    in.check_string(s.size() + t.size(), line);
    return Value(s + t);
  }
  if (op == "==") return Value(equals(a, b));
  if (op == "!=") return Value(!equals(a, b));
  if (op == "in") return Value(contains(in, b, a, line));
  if (op == "notin") return Value(!contains(in, b, a, line));
  if (op == "<" || op == "<=" || op == ">" || op == ">=") {
    bool ok = false;
    int c = compare(a, b, &ok);
    if (!ok) {
      if (a.is_undefined()) in.error(line, undefined_message(a));
      if (b.is_undefined()) in.error(line, undefined_message(b));
      in.error(line,
               "'" + op + "' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
    }
    if (a.is_float() || b.is_float()) {
      // NaN compares false with everything.
      if (std::isnan(a.as_float()) || std::isnan(b.as_float())) return Value(false);
    }
    if (op == "<") return Value(c < 0);
    if (op == "<=") return Value(c <= 0);
    if (op == ">") return Value(c > 0);
    return Value(c >= 0);
  }
  const bool nums = a.is_number() && b.is_number();
  const bool fl = nums && (a.is_float() || b.is_float());
  if (op == "+") {
    if (nums) {
      if (fl) return Value(a.as_float() + b.as_float());
      return Value(checked(in, add_ov, a.as_int(), b.as_int(), line));
    }
    if (a.is_string() && b.is_string()) {
      in.check_string(a.str().size() + b.str().size(), line);
      return Value(a.str() + b.str());
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
      in.check_list(a.items().size() + b.items().size(), line);
      ValueList items = a.items();
      items.insert(items.end(), b.items().begin(), b.items().end());
      return Value::list(std::move(items), a.is_tuple());
    }
    type_error(in, op, a, b, line);
  }
  if (op == "-") {
    if (!nums) type_error(in, op, a, b, line);
    if (fl) return Value(a.as_float() - b.as_float());
    return Value(checked(in, sub_ov, a.as_int(), b.as_int(), line));
  }
  if (op == "*") {
    if (nums) {
      if (fl) return Value(a.as_float() * b.as_float());
      return Value(checked(in, mul_ov, a.as_int(), b.as_int(), line));
    }
    if ((a.is_string() || a.is_list()) && b.is_number() && !b.is_float()) return repeat(in, a, b.as_int(), line);
    if ((b.is_string() || b.is_list()) && a.is_number() && !a.is_float()) return repeat(in, b, a.as_int(), line);
    type_error(in, op, a, b, line);
  }
  if (op == "/") {
    if (!nums) type_error(in, op, a, b, line);
    if (b.as_float() == 0) in.error(line, "division by zero");
    return Value(a.as_float() / b.as_float());
  }
  if (op == "//" || op == "%") {
    if (!nums) {
      if (op == "%" && a.is_string()) in.error(line, "printf-style string formatting with % is not supported");
      type_error(in, op, a, b, line);
    }
    if (fl) {
      double x = a.as_float(), y = b.as_float();
      if (y == 0) in.error(line, "float division by zero");
      double m = std::fmod(x, y);
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      if (op == "%") return Value(m);
      return Value(std::floor(x / y));
    }
    int64_t x = a.as_int(), y = b.as_int();
    if (y == 0) in.error(line, "integer division or modulo by zero");
    if (x == INT64_MIN && y == -1) in.error(line, "integer overflow");
    int64_t q = x / y, r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) {
      --q;
      r += y;
    }
    return Value(op == "//" ? q : r);
  }
  if (op == "**") {
    if (!nums) type_error(in, op, a, b, line);
    if (!fl && b.as_int() >= 0) {
      int64_t base = a.as_int(), e = b.as_int(), r = 1;
      while (e > 0) {
        if (e & 1) r = checked(in, mul_ov, r, base, line);
        e >>= 1;
        if (e > 0) base = checked(in, mul_ov, base, base, line);
      }
      return Value(r);
    }
    if (a.as_float() == 0 && b.as_float() < 0) in.error(line, "0.0 cannot be raised to a negative power");
    return Value(std::pow(a.as_float(), b.as_float()));
  }
  in.error(line, "unknown operator '" + op + "'");
}

}  // namespace ia::tok::jinja
