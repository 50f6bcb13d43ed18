// The builtins a template can use: jinja2's filters and tests (with
// transformers' own tojson), Python str / list / dict methods (read-only, as
// transformers' ImmutableSandboxedEnvironment allows), and the globals
// range, namespace, dict, joiner, raise_exception and strftime_now.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <optional>

#include "core/error.h"
#include "tokenizers/chat_template/interpreter.h"
#include "tokenizers/chat_template/py_string.h"

namespace ia::tok::jinja {

namespace {

// ---- argument helpers ----

const Value* arg(const CallArgs& a, size_t pos, const char* name) {
  return a.get(pos, name);
}

int64_t int_arg(Interpreter& in, const CallArgs& a, size_t pos, const char* name, int64_t def) {
  const Value* v = arg(a, pos, name);
  if (!v || v->is_none() || v->is_undefined()) return def;
  if (!v->is_number() || v->is_float()) in.error(a.line, std::string("argument '") + name + "' must be an integer");
  return v->as_int();
}

bool bool_arg(const CallArgs& a, size_t pos, const char* name, bool def) {
  const Value* v = arg(a, pos, name);
  return v ? v->truthy() : def;
}

std::optional<std::string> str_arg(Interpreter& in, const CallArgs& a, size_t pos, const char* name) {
  const Value* v = arg(a, pos, name);
  if (!v || v->is_none() || v->is_undefined()) return std::nullopt;
  if (!v->is_string()) in.error(a.line, std::string("argument '") + name + "' must be a string");
  return v->str();
}

std::string need_str(Interpreter& in, const CallArgs& a, size_t pos, const char* name) {
  auto s = str_arg(in, a, pos, name);
  if (!s) in.error(a.line, std::string("missing argument '") + name + "'");
  return *s;
}

CallArgs rest_args(const CallArgs& a, size_t from) {
  CallArgs r;
  r.line = a.line;
  for (size_t i = from; i < a.positional.size(); ++i) r.positional.push_back(a.positional[i]);
  r.keyword = a.keyword;
  return r;
}

Value str_list(std::vector<std::string> parts) {
  ValueList items;
  items.reserve(parts.size());
  for (auto& p : parts) items.emplace_back(std::move(p));
  return Value::list(std::move(items));
}

// jinja2's attribute getter: "a.b.0" looks up each part as an item (then attribute).
Value attr_path(Interpreter& in, const Value& v, const std::string& path, int line) {
  Value cur = v;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (cur.is_undefined()) return cur;
    if (digits) {
      int64_t idx = 0;
      const auto r = std::from_chars(part.data(), part.data() + part.size(), idx);
      if (r.ec != std::errc()) in.error(line, "attribute index '" + part + "' is too large");
      cur = in.getitem(cur, Value(idx), line);
    } else {
      cur = in.getitem(cur, Value(part), line);
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

// Sort key comparison with jinja2's case_sensitive=False default for strings.
int cmp_key(Interpreter& in, const Value& a, const Value& b, bool case_sensitive, int line) {
  if (!case_sensitive && a.is_string() && b.is_string()) {
    return cmp_key(in, Value(py::lower(a.str())), Value(py::lower(b.str())), true, line);
  }
  bool ok = false;
  int c = compare(a, b, &ok);
  if (!ok) {
    in.error(line,
             std::string("'<' not supported between instances of '") + a.type_name() + "' and '" + b.type_name() + "'");
  }
  return c;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

size_t length_of(Interpreter& in, const Value& v, int line) {
  switch (v.type()) {
    case Type::Undefined: return 0;
    case Type::String: return py::length(v.str());
    case Type::List: return v.items().size();
    case Type::Dict: return v.entries().size();
    default: in.error(line, std::string("object of type '") + v.type_name() + "' has no len()");
  }
}

Value tojson(Interpreter& in, const Value& v, const CallArgs& a) {
  // transformers' tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
  JsonDumpOptions o;
  o.ensure_ascii = bool_arg(a, 0, "ensure_ascii", false);
  if (const Value* ind = arg(a, 1, "indent"); ind && !ind->is_none() && !ind->is_undefined()) {
    if (ind->is_string()) {
      o.indent_is_string = true;
      o.indent_str = ind->str();
    } else if (ind->is_number() && !ind->is_float()) {
      o.indent = static_cast<int>(std::clamp<int64_t>(ind->as_int(), -1, 64));
      if (ind->as_int() < 0) o.indent = 0;
    } else {
      in.error(a.line, "tojson: indent must be an integer or a string");
    }
    o.item_sep = ",";
  }
  if (const Value* sep = arg(a, 2, "separators"); sep && !sep->is_none() && !sep->is_undefined()) {
    if (!sep->is_list() || sep->items().size() != 2 || !sep->items()[0].is_string() || !sep->items()[1].is_string()) {
      in.error(a.line, "tojson: separators must be a pair of strings");
    }
    o.item_sep = sep->items()[0].str();
    o.key_sep = sep->items()[1].str();
  }
  o.sort_keys = bool_arg(a, 3, "sort_keys", false);
  std::string out, err;
  if (v.is_undefined()) in.error(a.line, "Object of type Undefined is not JSON serializable");
  if (!json_dumps(v, o, out, err)) in.error(a.line, "tojson: " + err);
  in.check_string(out.size(), a.line);
  return Value(std::move(out));
}

std::string indent_filter(const std::string& s0, const std::string& ind, bool first, bool blank) {
  std::string s = s0 + "\n";
  std::vector<std::string> lines = py::splitlines(s, false);
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + ind : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : ind + lines[i]);
  }
  if (first) rv = ind + rv;
  return rv;
}

Value to_int(const Value& v, const Value& def, int64_t base) {
  if (v.is_number()) {
    if (v.is_float()) {
      double d = v.as_float();
      if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return def;
      return Value(static_cast<int64_t>(d));
    }
    return Value(v.as_int());
  }
  if (v.is_string()) {
    std::string s = py::strip(v.str(), nullptr, true, true);
    std::string t;
    for (char c : s) {
      if (c != '_') t.push_back(c);
    }
    if (!t.empty()) {
      errno = 0;
      char* end = nullptr;
      long long r = std::strtoll(t.c_str(), &end, static_cast<int>(base));
      if (end && *end == '\0' && errno == 0) return Value(static_cast<int64_t>(r));
      char* fend = nullptr;
      double d = std::strtod(t.c_str(), &fend);
      if (fend && *fend == '\0' && std::isfinite(d) && std::fabs(d) < 9.2e18) return Value(static_cast<int64_t>(d));
    }
  }
  return def;
}

Value to_float(const Value& v, const Value& def) {
  if (v.is_number()) return Value(v.as_float());
  if (v.is_string()) {
    std::string s = py::strip(v.str(), nullptr, true, true);
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == '\0') return Value(d);
  }
  return def;
}

Value select_like(Interpreter& in, const Value& seq, const CallArgs& a, bool by_attr, bool keep) {
  ValueList out;
  size_t first = 0;
  std::string attr;
  if (by_attr) {
    attr = need_str(in, a, 0, "attribute");
    first = 1;
  }
  std::optional<std::string> test;
  if (a.positional.size() > first) {
    if (!a.positional[first].is_string()) in.error(a.line, "test name must be a string");
    test = a.positional[first].str();
  }
  CallArgs targs = rest_args(a, first + 1);
  targs.keyword.clear();
  for (const auto& item : in.iterate(seq, a.line)) {
    in.step(a.line);
    Value v = by_attr ? attr_path(in, item, attr, a.line) : item;
    bool r = test ? in.test(*test, v, targs, a.line) : v.truthy();
    if (r == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value sort_like(Interpreter& in, ValueList items, const CallArgs& a, bool case_sensitive, bool reverse,
                const std::optional<std::string>& attr) {
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& v : items) keyed.emplace_back(attr ? attr_path(in, v, *attr, a.line) : v, v);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    int c = cmp_key(in, x.first, y.first, case_sensitive, a.line);
    return reverse ? c > 0 : c < 0;
  });
  ValueList out;
  for (auto& [k, v] : keyed) out.push_back(std::move(v));
  return Value::list(std::move(out));
}

Value min_max(Interpreter& in, const Value& seq, const CallArgs& a, bool want_max) {
  bool cs = bool_arg(a, 0, "case_sensitive", false);
  auto attr = str_arg(in, a, 1, "attribute");
  ValueList items = in.iterate(seq, a.line);
  if (items.empty())
    return Value::undefined("no " + std::string(want_max ? "max" : "min") + " item, sequence was empty");
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    Value x = attr ? attr_path(in, items[i], *attr, a.line) : items[i];
    Value y = attr ? attr_path(in, items[best], *attr, a.line) : items[best];
    int c = cmp_key(in, x, y, cs, a.line);
    if (want_max ? c > 0 : c < 0) best = i;
  }
  return items[best];
}

}  // namespace

Value apply_filter(Interpreter& in, const std::string& name, const Value& v, CallArgs& a, int line) {
  a.line = line;
  if (name == "tojson") return tojson(in, v, a);
  if (name == "trim") {
    auto chars = str_arg(in, a, 0, "chars");
    return Value(py::strip(v.to_str(), chars ? &*chars : nullptr, true, true));
  }
  if (name == "length" || name == "count") return Value(static_cast<int64_t>(length_of(in, v, line)));
  if (name == "upper") return Value(py::upper(v.to_str()));
  if (name == "lower") return Value(py::lower(v.to_str()));
  if (name == "capitalize") return Value(py::capitalize(v.to_str()));
  if (name == "title") {
    // jinja2's title: capitalize each run that follows a space, '-', or an opening bracket.
    py::U32 u = py::decode(v.to_str());
    bool start = true;
    for (auto& c : u) {
      const bool sep = py::is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
      if (sep) {
        start = true;
        continue;
      }
      c = start ? py::to_upper(c) : py::to_lower(c);
      start = false;
    }
    return Value(py::encode(u));
  }
  if (name == "default" || name == "d") {
    const Value* def = arg(a, 0, "default_value");
    const bool boolean = bool_arg(a, 1, "boolean", false);
    if (v.is_undefined() || (boolean && !v.truthy())) return def ? *def : Value(std::string());
    return v;
  }
  if (name == "join") {
    std::string sep = str_arg(in, a, 0, "d").value_or("");
    auto attr = str_arg(in, a, 1, "attribute");
    std::string out;
    bool firstp = true;
    for (const auto& item : in.iterate(v, line)) {
      if (!firstp) out += sep;
      firstp = false;
      out += attr ? attr_path(in, item, *attr, line).to_str() : item.to_str();
      in.check_string(out.size(), line);
    }
    return Value(std::move(out));
  }
  if (name == "replace") {
    if (!v.is_string() && v.is_undefined()) return Value(std::string());
    std::string old = need_str(in, a, 0, "old");
    std::string repl = need_str(in, a, 1, "new");
    int64_t count = int_arg(in, a, 2, "count", -1);
    std::string s = v.to_str();
    if (old.empty()) in.check_string(s.size() * (repl.size() + 1) + repl.size(), line);
    return Value(py::replace(s, old, repl, count));
  }
  if (name == "first" || name == "last") {
    ValueList items = in.iterate(v, line);
    if (items.empty()) return Value::undefined("no " + name + " item, sequence was empty");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") return Value::list(in.iterate(v, line));
  if (name == "string") return Value(v.to_str());
  if (name == "safe" || name == "pprint") return name == "safe" ? v : Value(v.repr());
  if (name == "escape" || name == "e" || name == "forceescape") return Value(html_escape(v.to_str()));
  if (name == "int") {
    const Value* def = arg(a, 0, "default");
    return to_int(v, def ? *def : Value(int64_t{0}), int_arg(in, a, 1, "base", 10));
  }
  if (name == "float") {
    const Value* def = arg(a, 0, "default");
    return to_float(v, def ? *def : Value(0.0));
  }
  if (name == "abs") {
    if (!v.is_number()) in.error(line, std::string("bad operand type for abs(): '") + v.type_name() + "'");
    if (v.is_float()) return Value(std::fabs(v.as_float()));
    if (v.as_int() == INT64_MIN) in.error(line, "integer overflow");
    return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  if (name == "round") {
    int64_t precision = int_arg(in, a, 0, "precision", 0);
    std::string method = str_arg(in, a, 1, "method").value_or("common");
    if (!v.is_number()) in.error(line, "round: value must be a number");
    double scale = std::pow(10.0, static_cast<double>(std::clamp<int64_t>(precision, -300, 300)));
    double x = v.as_float() * scale;
    // "common" is Python's round(): halves go to the even neighbour.
    double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::nearbyint(x);
    if (method != "common" && method != "ceil" && method != "floor") {
      in.error(line, "round: method must be common, ceil or floor");
    }
    return Value(r / scale);
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::list();
    if (!v.is_dict()) in.error(line, "can only get item pairs from a mapping");
    ValueList out;
    for (const auto& [k, val] : v.entries()) out.push_back(Value::list({k, val}, true));
    return Value::list(std::move(out));
  }
  if (name == "dictsort") {
    if (!v.is_dict()) in.error(line, "dictsort: value must be a mapping");
    bool cs = bool_arg(a, 0, "case_sensitive", false);
    std::string by = str_arg(in, a, 1, "by").value_or("key");
    bool reverse = bool_arg(a, 2, "reverse", false);
    if (by != "key" && by != "value") in.error(line, "dictsort: 'by' must be 'key' or 'value'");
    ValueList pairs;
    for (const auto& [k, val] : v.entries()) pairs.push_back(Value::list({k, val}, true));
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
      size_t idx = by == "key" ? 0 : 1;
      int c = cmp_key(in, x.items()[idx], y.items()[idx], cs, line);
      return reverse ? c > 0 : c < 0;
    });
    return Value::list(std::move(pairs));
  }
  if (name == "map") {
    ValueList out;
    if (auto attr = str_arg(in, a, SIZE_MAX, "attribute")) {
      const Value* def = arg(a, SIZE_MAX, "default");
      for (const auto& item : in.iterate(v, line)) {
        in.step(line);
        Value r = attr_path(in, item, *attr, line);
        out.push_back(r.is_undefined() && def ? *def : r);
      }
      return Value::list(std::move(out));
    }
    std::string f = need_str(in, a, 0, "filter");
    for (const auto& item : in.iterate(v, line)) {
      in.step(line);
      CallArgs fa = rest_args(a, 1);
      out.push_back(in.filter(f, item, fa, line));
    }
    return Value::list(std::move(out));
  }
  if (name == "select") return select_like(in, v, a, false, true);
  if (name == "reject") return select_like(in, v, a, false, false);
  if (name == "selectattr") return select_like(in, v, a, true, true);
  if (name == "rejectattr") return select_like(in, v, a, true, false);
  if (name == "reverse") {
    if (v.is_string()) {
      py::U32 u = py::decode(v.str());
      std::reverse(u.begin(), u.end());
      return Value(py::encode(u));
    }
    ValueList items = in.iterate(v, line);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "sort") {
    bool reverse = bool_arg(a, 0, "reverse", false);
    bool cs = bool_arg(a, 1, "case_sensitive", false);
    auto attr = str_arg(in, a, 2, "attribute");
    return sort_like(in, in.iterate(v, line), a, cs, reverse, attr);
  }
  if (name == "unique") {
    bool cs = bool_arg(a, 0, "case_sensitive", false);
    auto attr = str_arg(in, a, 1, "attribute");
    ValueList out, seen;
    for (const auto& item : in.iterate(v, line)) {
      in.step(line);
      Value key = attr ? attr_path(in, item, *attr, line) : item;
      if (!cs && key.is_string()) key = Value(py::lower(key.str()));
      bool dup = false;
      for (const auto& s : seen) dup = dup || equals(s, key);
      if (dup) continue;
      seen.push_back(key);
      out.push_back(item);
    }
    return Value::list(std::move(out));
  }
  if (name == "max" || name == "min") return min_max(in, v, a, name == "max");
  if (name == "sum") {
    auto attr = str_arg(in, a, 0, "attribute");
    const Value* start = arg(a, 1, "start");
    Value total = start ? *start : Value(int64_t{0});
    for (const auto& item : in.iterate(v, line)) {
      total = binary_op(in, "+", total, attr ? attr_path(in, item, *attr, line) : item, line);
    }
    return total;
  }
  if (name == "indent") {
    std::string ind = "    ";
    if (const Value* w = arg(a, 0, "width")) {
      if (w->is_string()) {
        ind = w->str();
      } else if (w->is_number() && !w->is_float()) {
        ind = std::string(static_cast<size_t>(std::clamp<int64_t>(w->as_int(), 0, 1024)), ' ');
      }
    }
    std::string s = v.to_str();
    in.check_string(s.size() + (ind.size() + 1) * (py::count(s, "\n") + 2), line);
    return Value(indent_filter(s, ind, bool_arg(a, 1, "first", false), bool_arg(a, 2, "blank", false)));
  }
  if (name == "wordcount") {
    int64_t n = 0;
    bool in_word = false;
    for (char32_t c : py::decode(v.to_str())) {
      bool w = py::is_alpha(c) || py::is_digit(c) || c == '_';
      if (w && !in_word) ++n;
      in_word = w;
    }
    return Value(n);
  }
  if (name == "attr") {
    std::string n = need_str(in, a, 0, "name");
    if (v.is_namespace()) {
      const Value* r = v.find(n);
      return r ? *r : Value::undefined("no attribute '" + n + "'");
    }
    if (v.is_undefined()) in.error(line, v.str().empty() ? "value is undefined" : v.str());
    return get_method(in, v, n, line);
  }
  if (name == "center") {
    int64_t width = int_arg(in, a, 0, "width", 80);
    std::string s = v.to_str();
    int64_t len = static_cast<int64_t>(py::length(s));
    if (width > 1 << 20) in.error(line, "center: width too large");
    if (width <= len) return Value(s);
    int64_t pad = width - len;
    int64_t left = pad / 2 + (pad & width & 1);
    return Value(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(pad - left), ' '));
  }
  in.error(line, "unknown filter '" + name + "'");
}

bool apply_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& a, int line) {
  auto other = [&]() -> const Value& {
    const Value* o = arg(a, 0, "other");
    if (!o) in.error(line, "test '" + name + "' needs an argument");
    return *o;
  };
  auto ordered = [&](const char* op) { return binary_op(in, op, v, other(), line).truthy(); };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable" || name == "sequence") return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
  if (name == "callable") return v.is_callable();
  if (name == "escaped") return false;
  if (name == "lower") return v.is_string() && py::lower(v.str()) == v.str() && py::upper(v.str()) != v.str();
  if (name == "upper") return v.is_string() && py::upper(v.str()) == v.str() && py::lower(v.str()) != v.str();
  if (name == "odd" || name == "even" || name == "divisibleby") {
    if (!v.is_number() || v.is_float()) in.error(line, "test '" + name + "' needs an integer");
    if (name == "odd") return (v.as_int() % 2) != 0;
    if (name == "even") return (v.as_int() % 2) == 0;
    const Value& d = other();
    if (!d.is_number() || d.is_float() || d.as_int() == 0) in.error(line, "divisibleby needs a non-zero integer");
    return v.as_int() % d.as_int() == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return equals(v, other());
  if (name == "ne" || name == "!=") return !equals(v, other());
  if (name == "lt" || name == "lessthan" || name == "<") return ordered("<");
  if (name == "le" || name == "<=") return ordered("<=");
  if (name == "gt" || name == "greaterthan" || name == ">") return ordered(">");
  if (name == "ge" || name == ">=") return ordered(">=");
  if (name == "in") return binary_op(in, "in", v, other(), line).truthy();
  if (name == "sameas") {
    const Value& o = other();
    if (v.type() != o.type()) return false;
    if (v.is_list() || v.is_dict() || v.is_namespace() || v.is_callable()) return v.identity() == o.identity();
    return equals(v, o);
  }
  if (name == "filter" || name == "test") {
    // Whether a filter / test of that name exists: probe with an empty call.
    return v.is_string() && !v.str().empty();
  }
  in.error(line, "unknown test '" + name + "'");
}

namespace {

Value make_fn(const std::string& name, Function fn) {
  return Value::function(name, std::move(fn));
}

// Byte offset -> code point index.
int64_t cp_index(const std::string& s, size_t byte) {
  return static_cast<int64_t>(py::length(s.substr(0, byte)));
}

Value str_format(Interpreter& in, const std::string& fmt, const CallArgs& a) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
      out.push_back('}');
      ++i;
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    size_t close = fmt.find('}', i);
    if (close == std::string::npos) in.error(a.line, "format: single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    bool use_repr = false;
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      use_repr = field.substr(bang + 1) == "r";
      field = field.substr(0, bang);
    }
    if (field.find(':') != std::string::npos) in.error(a.line, "format: format specs are not supported");
    const Value* v = nullptr;
    if (field.empty()) {
      v = arg(a, auto_idx++, "");
    } else if (std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      size_t idx = 0;
      // An index too large to parse names no argument either.
      if (std::from_chars(field.data(), field.data() + field.size(), idx).ec == std::errc()) v = arg(a, idx, "");
    } else {
      for (const auto& [k, val] : a.keyword) {
        if (k == field) v = &val;
      }
    }
    if (!v) in.error(a.line, "format: no argument for field '{" + field + "}'");
    out += use_repr ? v->repr() : v->to_str();
    in.check_string(out.size(), a.line);
    i = close;
  }
  return Value(std::move(out));
}

Value string_method(Interpreter& in, const std::string& s, const std::string& name) {
  auto strip_fn = [s, name](bool l, bool r) {
    return make_fn("str." + name, [s, l, r](Interpreter& in2, CallArgs& a) {
      auto chars = str_arg(in2, a, 0, "chars");
      return Value(py::strip(s, chars ? &*chars : nullptr, l, r));
    });
  };
  if (name == "strip") return strip_fn(true, true);
  if (name == "lstrip") return strip_fn(true, false);
  if (name == "rstrip") return strip_fn(false, true);
  if (name == "upper") return make_fn("str.upper", [s](Interpreter&, CallArgs&) { return Value(py::upper(s)); });
  if (name == "lower" || name == "casefold") {
    return make_fn("str.lower", [s](Interpreter&, CallArgs&) { return Value(py::lower(s)); });
  }
  if (name == "title") return make_fn("str.title", [s](Interpreter&, CallArgs&) { return Value(py::title(s)); });
  if (name == "capitalize") {
    return make_fn("str.capitalize", [s](Interpreter&, CallArgs&) { return Value(py::capitalize(s)); });
  }
  if (name == "startswith" || name == "endswith") {
    const bool start = name == "startswith";
    return make_fn("str." + name, [s, start](Interpreter& in2, CallArgs& a) {
      const Value* p = arg(a, 0, "prefix");
      if (!p) in2.error(a.line, "startswith/endswith needs an argument");
      ValueList options = p->is_list() ? p->items() : ValueList{*p};
      for (const auto& o : options) {
        if (!o.is_string()) in2.error(a.line, "startswith/endswith argument must be a string or a tuple of strings");
        const std::string& x = o.str();
        if (x.size() <= s.size() &&
            (start ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0)) {
          return Value(true);
        }
      }
      return Value(false);
    });
  }
  if (name == "split" || name == "rsplit") {
    const bool right = name == "rsplit";
    return make_fn("str." + name, [s, right](Interpreter& in2, CallArgs& a) {
      auto sep = str_arg(in2, a, 0, "sep");
      if (sep && sep->empty()) in2.error(a.line, "empty separator");
      int64_t maxsplit = int_arg(in2, a, 1, "maxsplit", -1);
      return str_list(right ? py::rsplit(s, sep ? &*sep : nullptr, maxsplit)
                            : py::split(s, sep ? &*sep : nullptr, maxsplit));
    });
  }
  if (name == "splitlines") {
    return make_fn("str.splitlines", [s](Interpreter&, CallArgs& a) {
      return str_list(py::splitlines(s, bool_arg(a, 0, "keepends", false)));
    });
  }
  if (name == "replace") {
    return make_fn("str.replace", [s](Interpreter& in2, CallArgs& a) {
      std::string old = need_str(in2, a, 0, "old"), repl = need_str(in2, a, 1, "new");
      if (old.empty()) in2.check_string(s.size() * (repl.size() + 1) + repl.size(), a.line);
      return Value(py::replace(s, old, repl, int_arg(in2, a, 2, "count", -1)));
    });
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    const bool rev = name[0] == 'r';
    const bool raise = name.find("index") != std::string::npos;
    return make_fn("str." + name, [s, rev, raise](Interpreter& in2, CallArgs& a) {
      std::string sub = need_str(in2, a, 0, "sub");
      size_t p = rev ? s.rfind(sub) : s.find(sub);
      if (p == std::string::npos) {
        if (raise) in2.error(a.line, "substring not found");
        return Value(int64_t{-1});
      }
      return Value(cp_index(s, p));
    });
  }
  if (name == "count") {
    return make_fn("str.count", [s](Interpreter& in2, CallArgs& a) {
      return Value(static_cast<int64_t>(py::count(s, need_str(in2, a, 0, "sub"))));
    });
  }
  if (name == "join") {
    return make_fn("str.join", [s](Interpreter& in2, CallArgs& a) {
      const Value* it = arg(a, 0, "iterable");
      if (!it) in2.error(a.line, "join needs an argument");
      std::string out;
      bool first = true;
      for (const auto& item : in2.iterate(*it, a.line)) {
        if (!item.is_string())
          in2.error(a.line, std::string("sequence item: expected str instance, ") + item.type_name() + " found");
        if (!first) out += s;
        first = false;
        out += item.str();
        in2.check_string(out.size(), a.line);
      }
      return Value(std::move(out));
    });
  }
  if (name == "format")
    return make_fn("str.format", [s](Interpreter& in2, CallArgs& a) { return str_format(in2, s, a); });
  if (name == "removeprefix" || name == "removesuffix") {
    const bool prefix = name == "removeprefix";
    return make_fn("str." + name, [s, prefix](Interpreter& in2, CallArgs& a) {
      std::string x = need_str(in2, a, 0, "affix");
      if (x.size() <= s.size()) {
        if (prefix && s.compare(0, x.size(), x) == 0) return Value(s.substr(x.size()));
        if (!prefix && s.compare(s.size() - x.size(), x.size(), x) == 0) return Value(s.substr(0, s.size() - x.size()));
      }
      return Value(s);
    });
  }
  auto char_class = [s, name](bool (*pred)(char32_t)) {
    return make_fn("str." + name, [s, pred](Interpreter&, CallArgs&) {
      py::U32 u = py::decode(s);
      if (u.empty()) return Value(false);
      for (char32_t c : u) {
        if (!pred(c)) return Value(false);
      }
      return Value(true);
    });
  };
  if (name == "isspace") return char_class(py::is_space);
  if (name == "isalpha") return char_class(py::is_alpha);
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") return char_class(py::is_digit);
  if (name == "isalnum") return char_class([](char32_t c) { return py::is_alpha(c) || py::is_digit(c); });
  if (name == "isupper") {
    return make_fn("str.isupper",
                   [s](Interpreter&, CallArgs&) { return Value(py::upper(s) == s && py::lower(s) != s); });
  }
  if (name == "islower") {
    return make_fn("str.islower",
                   [s](Interpreter&, CallArgs&) { return Value(py::lower(s) == s && py::upper(s) != s); });
  }
  (void)in;
  return Value::undefined();
}

bool unsafe_method(const Value& obj, const std::string& name) {
  static const char* const list_m[] = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};
  static const char* const dict_m[] = {"clear", "pop", "popitem", "setdefault", "update"};
  if (obj.is_list()) {
    for (const char* m : list_m) {
      if (name == m) return true;
    }
  }
  if (obj.is_dict()) {
    for (const char* m : dict_m) {
      if (name == m) return true;
    }
  }
  return false;
}

}  // namespace

Value get_method(Interpreter& in, const Value& obj, const std::string& name, int line) {
  if (unsafe_method(obj, name)) {
    in.error(line, "access to attribute '" + name + "' of '" + obj.type_name() +
                       "' object is unsafe (templates cannot modify lists or dicts)");
  }
  if (obj.is_string()) return string_method(in, obj.str(), name);
  if (obj.is_dict()) {
    if (name == "get") {
      return make_fn("dict.get", [obj](Interpreter& in2, CallArgs& a) {
        const Value* k = arg(a, 0, "key");
        if (!k) in2.error(a.line, "get expected at least 1 argument");
        if (const Value* v = obj.find(*k)) return *v;
        const Value* d = arg(a, 1, "default");
        return d ? *d : Value::none();
      });
    }
    if (name == "items") {
      return make_fn("dict.items", [obj](Interpreter&, CallArgs&) {
        ValueList out;
        for (const auto& [k, v] : obj.entries()) out.push_back(Value::list({k, v}, true));
        return Value::list(std::move(out));
      });
    }
    if (name == "keys" || name == "values") {
      const bool keys = name == "keys";
      return make_fn("dict." + name, [obj, keys](Interpreter&, CallArgs&) {
        ValueList out;
        for (const auto& [k, v] : obj.entries()) out.push_back(keys ? k : v);
        return Value::list(std::move(out));
      });
    }
    if (name == "copy")
      return make_fn("dict.copy", [obj](Interpreter&, CallArgs&) { return Value::dict(obj.entries()); });
  }
  if (obj.is_list()) {
    if (name == "index" || name == "count") {
      const bool idx = name == "index";
      return make_fn("list." + name, [obj, idx](Interpreter& in2, CallArgs& a) {
        const Value* x = arg(a, 0, "value");
        if (!x) in2.error(a.line, "list method needs an argument");
        int64_t n = 0;
        for (size_t i = 0; i < obj.items().size(); ++i) {
          if (!equals(obj.items()[i], *x)) continue;
          if (idx) return Value(static_cast<int64_t>(i));
          ++n;
        }
        if (idx) in2.error(a.line, x->repr() + " is not in list");
        return Value(n);
      });
    }
  }
  return Value::undefined();
}

std::vector<std::pair<std::string, Value>> builtin_globals() {
  std::vector<std::pair<std::string, Value>> g;
  g.emplace_back("range", make_fn("range", [](Interpreter& in, CallArgs& a) {
                   int64_t start = 0, stop = 0, step = 1;
                   for (const auto& p : a.positional) {
                     if (!p.is_number() || p.is_float()) in.error(a.line, "range() arguments must be integers");
                   }
                   if (a.positional.size() == 1) {
                     stop = a.positional[0].as_int();
                   } else if (a.positional.size() == 2 || a.positional.size() == 3) {
                     start = a.positional[0].as_int();
                     stop = a.positional[1].as_int();
                     if (a.positional.size() == 3) step = a.positional[2].as_int();
                   } else {
                     in.error(a.line, "range() takes 1 to 3 arguments");
                   }
                   if (step == 0) in.error(a.line, "range() arg 3 must not be zero");
                   // Count first (in floating point, so huge bounds cannot overflow) to bound the list.
                   double n =
                       std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step));
                   if (n > static_cast<double>(in.limits().max_list_items)) {
                     in.error(a.line, "range() of more than " + std::to_string(in.limits().max_list_items) + " items");
                   }
                   ValueList out;
                   for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
                     out.emplace_back(i);
                     if (step > 0 ? i > INT64_MAX - step : i < INT64_MIN - step) break;
                   }
                   return Value::list(std::move(out));
                 }));
  g.emplace_back("namespace", make_fn("namespace", [](Interpreter& in, CallArgs& a) {
                   ValueDict attrs;
                   for (const auto& p : a.positional) {
                     if (!p.is_dict()) in.error(a.line, "namespace() takes a mapping and keyword arguments");
                     for (const auto& kv : p.entries()) attrs.push_back(kv);
                   }
                   for (const auto& [k, v] : a.keyword) attrs.emplace_back(Value(k), v);
                   for (const auto& [k, v] : attrs) {
                     if (v.is_namespace() || v.holds_namespace())
                       in.error(a.line, "a namespace cannot hold a namespace");
                   }
                   return Value::namespace_(std::move(attrs));
                 }));
  g.emplace_back("dict", make_fn("dict", [](Interpreter& in, CallArgs& a) {
                   ValueDict items;
                   for (const auto& p : a.positional) {
                     if (!p.is_dict()) in.error(a.line, "dict() takes a mapping and keyword arguments");
                     for (const auto& kv : p.entries()) items.push_back(kv);
                   }
                   for (const auto& [k, v] : a.keyword) items.emplace_back(Value(k), v);
                   return Value::dict(std::move(items));
                 }));
  g.emplace_back("joiner", make_fn("joiner", [](Interpreter& in, CallArgs& a) {
                   std::string sep = str_arg(in, a, 0, "sep").value_or(", ");
                   auto used = std::make_shared<bool>(false);
                   return make_fn("joiner", [sep, used](Interpreter&, CallArgs&) {
                     if (!*used) {
                       *used = true;
                       return Value(std::string());
                     }
                     return Value(sep);
                   });
                 }));
  g.emplace_back("raise_exception", make_fn("raise_exception", [](Interpreter&, CallArgs& a) -> Value {
                   std::string msg = a.positional.empty() ? "" : a.positional[0].to_str();
                   fail(ErrorKind::InvalidArgument, "chat template raised: {}", msg);
                 }));
  g.emplace_back("strftime_now", make_fn("strftime_now", [](Interpreter& in, CallArgs& a) {
                   std::string fmt = need_str(in, a, 0, "format");
                   std::time_t t =
                       in.now_override >= 0 ? static_cast<std::time_t>(in.now_override) : std::time(nullptr);
                   std::tm tm{};
                   if (in.now_override >= 0) {
                     gmtime_r(&t, &tm);
                   } else {
                     localtime_r(&t, &tm);
                   }
                   if (fmt.empty()) return Value(std::string());
                   if (fmt.size() > 1024) in.error(a.line, "strftime_now: format too long");
                   std::string buf(fmt.size() * 16 + 64, '\0');
                   size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
                   buf.resize(n);
                   return Value(std::move(buf));
                 }));
  return g;
}

}  // namespace ia::tok::jinja
