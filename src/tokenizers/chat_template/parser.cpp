// Recursive-descent parser over the lexer's tokens (see parser.h). Expression
// precedence, lowest first, as jinja2: conditional `a if b else c`, or, and,
// not, comparisons and `in`, + -, ~, * / // %, **, unary - +, then postfix
// (.attr, [item], call) and filters / tests, which bind tighter than any
// binary operator (`x|length - 1` is `(x|length) - 1`).
#include "tokenizers/chat_template/parser.h"

#include <charconv>
#include <cstdlib>
#include <initializer_list>

#include "core/error.h"
#include "tokenizers/chat_template/lexer.h"

namespace ia::tok::jinja {

namespace {

constexpr int kMaxDepth = 200;  // nesting of expressions and blocks

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Body parse_template() {
    std::string which;
    return parse_until({}, &which, 0, "");
  }

 private:
  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t n = 1) const { return t_[std::min(i_ + n, t_.size() - 1)]; }
  bool is_op(const char* op) const { return cur().kind == Tok::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().kind == Tok::Name && cur().text == n; }
  void next() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  std::string describe(const Token& t) const {
    switch (t.kind) {
      case Tok::Text: return "text";
      case Tok::VarBegin: return "'{{'";
      case Tok::VarEnd: return "end of print statement '}}'";
      case Tok::BlockBegin: return "'{%'";
      case Tok::BlockEnd: return "end of statement block '%}'";
      case Tok::String: return "string";
      case Tok::Int:
      case Tok::Float: return "number " + t.text;
      case Tok::Eof: return "end of template";
      default: return "'" + t.text + "'";
    }
  }
  [[noreturn]] void unexpected(const std::string& expected) const {
    syntax_error(cur().line, "unexpected " + describe(cur()) + (expected.empty() ? "" : ", expected " + expected));
  }
  void expect_op(const char* op) {
    if (!is_op(op)) unexpected(std::string("'") + op + "'");
    next();
  }
  void expect_block_end() {
    if (cur().kind != Tok::BlockEnd) unexpected("'%}'");
    next();
  }
  std::string expect_name() {
    if (cur().kind != Tok::Name) unexpected("a name");
    std::string n = cur().text;
    next();
    return n;
  }
  void enter(int line) {
    if (++depth_ > kMaxDepth) syntax_error(line, "template nested too deeply");
  }
  void leave() { --depth_; }

  ExprPtr make(ExprKind k, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line;
    return e;
  }

  // ---- statements ----

  // Parses until `{% <one of ends>`; consumes that keyword, stores it in `which`.
  Body parse_until(std::initializer_list<const char*> ends, std::string* which, int open_line,
                   const std::string& open_tag) {
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.kind == Tok::Eof) {
        if (ends.size() == 0) return body;
        std::string expected;
        for (const char* e : ends) expected += (expected.empty() ? "'" : " or '") + std::string(e) + "'";
        syntax_error(t.line, "unexpected end of template, expected " + expected + " to close the '" + open_tag +
                                 "' block opened at line " + std::to_string(open_line));
      }
      if (t.kind == Tok::Text) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Text;
        s->line = t.line;
        s->text = t.text;
        body.push_back(std::move(s));
        next();
        continue;
      }
      if (t.kind == Tok::VarBegin) {
        next();
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Output;
        s->line = t.line;
        s->expr = parse_tuple(true);
        if (cur().kind != Tok::VarEnd) unexpected("'}}'");
        next();
        body.push_back(std::move(s));
        continue;
      }
      if (t.kind != Tok::BlockBegin) unexpected("");
      next();
      if (cur().kind != Tok::Name) unexpected("a tag name");
      for (const char* e : ends) {
        if (cur().text == e) {
          *which = e;
          next();
          return body;
        }
      }
      body.push_back(parse_statement());
    }
  }

  StmtPtr parse_statement() {
    const int line = cur().line;
    const std::string tag = cur().text;
    enter(line);
    next();
    auto s = std::make_unique<Stmt>();
    s->line = line;
    std::string which;
    if (tag == "if") {
      s->kind = StmtKind::If;
      while (true) {
        s->conds.push_back(parse_tuple(false));
        expect_block_end();
        s->bodies.push_back(parse_until({"elif", "else", "endif"}, &which, line, "if"));
        if (which == "elif") continue;
        if (which == "else") {
          expect_block_end();
          s->else_body = parse_until({"endif"}, &which, line, "if");
        }
        break;
      }
      expect_block_end();
    } else if (tag == "for") {
      s->kind = StmtKind::For;
      s->targets = parse_target_names();
      if (!is_name("in")) unexpected("'in'");
      next();
      s->expr = parse_tuple(false, /*for_iter=*/true);
      if (is_name("if")) {
        next();
        s->cond = parse_tuple(true);
      }
      if (is_name("recursive")) syntax_error(cur().line, "recursive for loops are not supported");
      expect_block_end();
      ++loop_depth_;
      s->bodies.push_back(parse_until({"endfor", "else"}, &which, line, "for"));
      --loop_depth_;
      if (which == "else") {
        expect_block_end();
        s->else_body = parse_until({"endfor"}, &which, line, "for");
      }
      expect_block_end();
    } else if (tag == "set") {
      s->targets.push_back(expect_name());
      if (is_op(".")) {
        next();
        s->attr = expect_name();
      } else {
        while (is_op(",")) {
          next();
          if (is_op("=")) break;
          s->targets.push_back(expect_name());
        }
      }
      if (is_op("=")) {
        next();
        s->kind = StmtKind::Set;
        s->expr = parse_tuple(true);
        expect_block_end();
      } else {
        if (s->targets.size() != 1 || !s->attr.empty()) unexpected("'='");
        s->kind = StmtKind::SetBlock;
        s->text = s->targets[0];
        if (is_op("|")) s->expr = parse_filter_chain(nullptr);
        expect_block_end();
        s->bodies.push_back(parse_until({"endset"}, &which, line, "set"));
        expect_block_end();
      }
    } else if (tag == "macro") {
      s->kind = StmtKind::Macro;
      s->text = expect_name();
      parse_params(*s);
      expect_block_end();
      const int saved = loop_depth_;
      loop_depth_ = 0;
      s->bodies.push_back(parse_until({"endmacro"}, &which, line, "macro"));
      loop_depth_ = saved;
      if (cur().kind == Tok::Name) next();  // `{% endmacro name %}`
      expect_block_end();
    } else if (tag == "call") {
      s->kind = StmtKind::CallBlock;
      if (is_op("(")) parse_params(*s);
      s->expr = parse_expression(true);
      if (s->expr->kind != ExprKind::Call) syntax_error(line, "expected a call after 'call'");
      expect_block_end();
      const int saved = loop_depth_;
      loop_depth_ = 0;
      s->bodies.push_back(parse_until({"endcall"}, &which, line, "call"));
      loop_depth_ = saved;
      expect_block_end();
    } else if (tag == "filter") {
      s->kind = StmtKind::FilterBlock;
      s->expr = parse_filter_chain(nullptr, /*leading_bar=*/false);
      expect_block_end();
      s->bodies.push_back(parse_until({"endfilter"}, &which, line, "filter"));
      expect_block_end();
    } else if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) syntax_error(line, "'" + tag + "' outside of a loop");
      s->kind = tag == "break" ? StmtKind::Break : StmtKind::Continue;
      expect_block_end();
    } else if (tag == "generation") {
      s->kind = StmtKind::Generation;
      expect_block_end();
      s->bodies.push_back(parse_until({"endgeneration"}, &which, line, "generation"));
      expect_block_end();
    } else {
      syntax_error(line, "unknown tag '" + tag + "'");
    }
    leave();
    return s;
  }

  std::vector<std::string> parse_target_names() {
    std::vector<std::string> names;
    const bool paren = is_op("(");
    if (paren) next();
    names.push_back(expect_name());
    while (is_op(",")) {
      next();
      if (paren ? is_op(")") : is_name("in")) break;
      names.push_back(expect_name());
    }
    if (paren) expect_op(")");
    return names;
  }

  void parse_params(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.targets.empty()) expect_op(",");
      if (is_op(")")) break;
      s.targets.push_back(expect_name());
      if (is_op("=")) {
        next();
        s.defaults.push_back(parse_expression(true));
      } else {
        s.defaults.push_back(nullptr);
      }
    }
    next();
  }

  // ---- expressions ----

  bool tuple_end(bool for_iter) const {
    const Token& t = cur();
    if (t.kind == Tok::VarEnd || t.kind == Tok::BlockEnd || t.kind == Tok::Eof) return true;
    if (t.kind == Tok::Op && (t.text == ")" || t.text == "=")) return true;
    return for_iter && t.kind == Tok::Name && (t.text == "if" || t.text == "recursive");
  }

  ExprPtr parse_tuple(bool with_condexpr, bool for_iter = false, bool explicit_parens = false) {
    const int line = cur().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (tuple_end(for_iter)) break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) unexpected("an expression");
    }
    auto e = make(ExprKind::Tuple, line);
    e->items = std::move(items);
    return e;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    enter(cur().line);
    ExprPtr e = parse_or();
    if (with_condexpr) {
      while (is_name("if")) {
        const int line = cur().line;
        next();
        auto c = make(ExprKind::CondExpr, line);
        c->a = parse_or();
        c->items.push_back(std::move(e));
        if (is_name("else")) {
          next();
          c->items.push_back(parse_expression(true));
        } else {
          c->items.push_back(nullptr);
        }
        e = std::move(c);
      }
    }
    leave();
    return e;
  }

  ExprPtr binary(const std::string& op, ExprPtr a, ExprPtr b, int line) {
    auto e = make(ExprKind::Binary, line);
    e->name = op;
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const int line = cur().line;
      next();
      e = binary("or", std::move(e), parse_and(), line);
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const int line = cur().line;
      next();
      e = binary("and", std::move(e), parse_not(), line);
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      const int line = cur().line;
      enter(line);
      next();
      auto e = make(ExprKind::Unary, line);
      e->name = "not";
      e->a = parse_not();
      leave();
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    while (true) {
      const int line = cur().line;
      std::string op;
      if (cur().kind == Tok::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                    cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
        op = cur().text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && peek().kind == Tok::Name && peek().text == "in") {
        op = "notin";
        next();
        next();
      } else {
        return e;
      }
      e = binary(op, std::move(e), parse_math1(), line);
    }
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const int line = cur().line;
      std::string op = cur().text;
      next();
      e = binary(op, std::move(e), parse_concat(), line);
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const int line = cur().line;
      next();
      e = binary("~", std::move(e), parse_math2(), line);
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const int line = cur().line;
      std::string op = cur().text;
      next();
      e = binary(op, std::move(e), parse_pow(), line);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const int line = cur().line;
      next();
      e = binary("**", std::move(e), parse_unary(true), line);
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    const int line = cur().line;
    enter(line);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      std::string op = cur().text;
      next();
      e = make(ExprKind::Unary, line);
      e->name = op;
      e->a = parse_unary(false);
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    leave();
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    const int line = t.line;
    if (t.kind == Tok::Name) {
      const std::string n = t.text;
      next();
      auto e = make(ExprKind::Literal, line);
      if (n == "true" || n == "True") {
        e->value = Value(true);
      } else if (n == "false" || n == "False") {
        e->value = Value(false);
      } else if (n == "none" || n == "None") {
        e->value = Value::none();
      } else {
        e->kind = ExprKind::Name;
        e->name = n;
      }
      return e;
    }
    if (t.kind == Tok::String) {
      std::string s;
      while (cur().kind == Tok::String) {
        s += cur().text;
        next();
      }
      auto e = make(ExprKind::Literal, line);
      e->value = Value(std::move(s));
      return e;
    }
    if (t.kind == Tok::Int) {
      int64_t v = 0;
      auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
      if (r.ec != std::errc()) syntax_error(line, "integer literal too large");
      next();
      auto e = make(ExprKind::Literal, line);
      e->value = Value(v);
      return e;
    }
    if (t.kind == Tok::Float) {
      double v = std::strtod(t.text.c_str(), nullptr);
      next();
      auto e = make(ExprKind::Literal, line);
      e->value = Value(v);
      return e;
    }
    if (is_op("(")) {
      next();
      ExprPtr e = parse_tuple(true, false, true);
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      next();
      auto e = make(ExprKind::List, line);
      while (!is_op("]")) {
        if (!e->items.empty()) expect_op(",");
        if (is_op("]")) break;
        e->items.push_back(parse_expression(true));
      }
      next();
      return e;
    }
    if (is_op("{")) {
      next();
      auto e = make(ExprKind::Dict, line);
      while (!is_op("}")) {
        if (!e->items.empty()) expect_op(",");
        if (is_op("}")) break;
        e->items.push_back(parse_expression(true));
        expect_op(":");
        e->items.push_back(parse_expression(true));
      }
      next();
      return e;
    }
    unexpected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      const int line = cur().line;
      if (is_op(".")) {
        next();
        if (cur().kind == Tok::Int) {
          auto g = make(ExprKind::GetItem, line);
          g->a = std::move(e);
          g->b = make(ExprKind::Literal, line);
          g->b->value = Value(static_cast<int64_t>(std::strtoll(cur().text.c_str(), nullptr, 10)));
          next();
          e = std::move(g);
          continue;
        }
        auto g = make(ExprKind::GetAttr, line);
        g->name = expect_name();
        g->a = std::move(e);
        e = std::move(g);
      } else if (is_op("[")) {
        next();
        e = parse_subscript(std::move(e), line);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj, int line) {
    ExprPtr parts[3];
    int colons = 0;
    if (!is_op(":")) parts[0] = parse_expression(true);
    while (is_op(":") && colons < 2) {
      next();
      ++colons;
      if (!is_op(":") && !is_op("]")) parts[colons] = parse_expression(true);
    }
    expect_op("]");
    if (colons == 0) {
      auto g = make(ExprKind::GetItem, line);
      g->a = std::move(obj);
      g->b = std::move(parts[0]);
      return g;
    }
    auto s = make(ExprKind::Slice, line);
    s->a = std::move(obj);
    for (auto& p : parts) s->items.push_back(std::move(p));
    return s;
  }

  void parse_args(Expr& e) {
    expect_op("(");
    bool any = false;
    while (!is_op(")")) {
      if (any) expect_op(",");
      if (is_op(")")) break;
      any = true;
      if (is_op("*") || is_op("**")) syntax_error(cur().line, "*args and **kwargs in calls are not supported");
      if (cur().kind == Tok::Name && peek().kind == Tok::Op && peek().text == "=") {
        e.kwnames.push_back(cur().text);
        next();
        next();
        e.items.push_back(parse_expression(true));
      } else {
        if (!e.kwnames.empty()) syntax_error(cur().line, "positional argument after keyword argument");
        e.items.push_back(parse_expression(true));
      }
    }
    next();
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto c = make(ExprKind::Call, cur().line);
    c->a = std::move(callee);
    parse_args(*c);
    return c;
  }

  // `| name(args) | name ...` applied to `input` (null in {% filter %} / {% set x | f %}).
  ExprPtr parse_filter_chain(ExprPtr input, bool leading_bar = true) {
    bool first = true;
    while ((first && !leading_bar) || is_op("|")) {
      if (!(first && !leading_bar)) next();
      first = false;
      auto f = make(ExprKind::Filter, cur().line);
      f->name = expect_name();
      while (is_op(".")) {  // dotted filter names
        next();
        f->name += "." + expect_name();
      }
      f->a = std::move(input);
      if (is_op("(")) parse_args(*f);
      input = std::move(f);
    }
    return input;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        e = parse_filter_chain(std::move(e));
      } else if (is_name("is")) {
        const int line = cur().line;
        next();
        auto t = make(ExprKind::Test, line);
        if (is_name("not")) {
          t->negated = true;
          next();
        }
        t->name = expect_name();
        t->a = std::move(e);
        if (is_op("(")) {
          parse_args(*t);
        } else if ((cur().kind == Tok::Name || cur().kind == Tok::String || cur().kind == Tok::Int ||
                    cur().kind == Tok::Float || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          if (is_name("is")) syntax_error(cur().line, "cannot chain multiple tests with 'is'");
          t->items.push_back(parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

std::shared_ptr<const Template> parse(const std::string& source) {
  auto t = std::make_shared<Template>();
  t->body = Parser(lex(source)).parse_template();
  return t;
}

}  // namespace ia::tok::jinja
