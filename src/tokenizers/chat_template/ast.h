#pragma once
// The syntax tree of a parsed template: expressions and statements, each
// carrying the template line it came from for error messages.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizers/chat_template/value.h"

namespace ia::tok::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  Literal,   // value
  Name,      // name
  List,      // items
  Tuple,     // items
  Dict,      // items (key, value pairs flattened: k0, v0, k1, v1, ...)
  GetAttr,   // a . name
  GetItem,   // a [ b ]
  Slice,     // a [ items[0] : items[1] : items[2] ] (null when omitted)
  Call,      // a ( args ) with keyword names in `kwnames` for the trailing args
  Filter,    // a | name ( args )  (a may be null inside {% filter %})
  Test,      // a is [not] name ( args )
  Unary,     // op a   ("not", "-", "+")
  Binary,    // a op b
  CondExpr,  // items[0] if a else items[1] (items[1] may be null)
};

struct Expr {
  ExprKind kind;
  int line = 0;
  Value value;                       // Literal
  std::string name;                  // Name, GetAttr, Filter, Test; Unary / Binary operator
  ExprPtr a, b;                      // operands
  std::vector<ExprPtr> items;        // List, Tuple, Dict, Slice, Call / Filter / Test args, CondExpr branches
  std::vector<std::string> kwnames;  // Call / Filter / Test: names of the last kwnames.size() args
  bool negated = false;              // Test
};

enum class StmtKind {
  Text,         // text
  Output,       // {{ expr }}
  If,           // conds[i] -> bodies[i]; else_body
  For,          // targets in expr [if cond]: body; else_body
  Set,          // target = expr (targets: names; attr: namespace attribute)
  SetBlock,     // {% set name %}body{% endset %} (optional filter in expr)
  Macro,        // name(params = defaults): body
  CallBlock,    // {% call(params) expr %}body{% endcall %}
  FilterBlock,  // {% filter f %}body{% endfilter %}: expr is the filter chain over a null input
  Break,
  Continue,
  Generation,  // transformers' {% generation %}: renders its body
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;                  // Text; SetBlock / Macro name
  ExprPtr expr;                      // Output, For iterable, Set value, CallBlock call, FilterBlock filter
  ExprPtr cond;                      // For filter
  std::vector<std::string> targets;  // For / Set names; Macro / CallBlock params
  std::string attr;                  // Set: namespace attribute (targets[0] is the namespace)
  std::vector<ExprPtr> conds;        // If
  std::vector<Body> bodies;          // If branches; For / Macro / ... body in bodies[0]
  Body else_body;                    // If / For
  std::vector<ExprPtr> defaults;     // Macro / CallBlock: default per param (null when none)
};

struct Template {
  Body body;
};

}  // namespace ia::tok::jinja
