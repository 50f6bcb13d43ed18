// Value: construction, Python truthiness / str / repr / ==, and json.dumps.
#include "tokenizers/chat_template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "tokenizers/chat_template/py_string.h"

namespace ia::tok::jinja {

Value Value::undefined(std::string hint) {
  Value v;
  v.s_ = std::move(hint);
  return v;
}

Value Value::none() {
  Value v;
  v.type_ = Type::None;
  return v;
}

Value::Value(bool b) : type_(Type::Bool), b_(b) {}
Value::Value(int64_t i) : type_(Type::Int), i_(i) {}
Value::Value(double d) : type_(Type::Float), d_(d) {}
Value::Value(std::string s) : type_(Type::String), s_(std::move(s)) {}

Value Value::list(ValueList items, bool tuple) {
  Value v;
  v.type_ = Type::List;
  v.tuple_ = tuple;
  for (const auto& e : items) {
    v.depth_ = std::max(v.depth_, e.depth_);
    v.holds_ns_ = v.holds_ns_ || e.holds_ns_ || e.type_ == Type::Namespace;
  }
  if (++v.depth_ > kMaxValueDepth) fail(ErrorKind::InvalidArgument, "chat template value nested too deeply");
  v.list_ = std::make_shared<ValueList>(std::move(items));
  return v;
}

Value Value::dict(ValueDict items) {
  Value v;
  v.type_ = Type::Dict;
  for (const auto& [k, e] : items) {
    v.depth_ = std::max(v.depth_, e.depth_);
    v.holds_ns_ = v.holds_ns_ || e.holds_ns_ || e.type_ == Type::Namespace;
  }
  if (++v.depth_ > kMaxValueDepth) fail(ErrorKind::InvalidArgument, "chat template value nested too deeply");
  v.dict_ = std::make_shared<ValueDict>(std::move(items));
  return v;
}

Value Value::function(std::string name, Function fn) {
  Value v;
  v.type_ = Type::Callable;
  v.s_ = std::move(name);
  v.fn_ = std::make_shared<Function>(std::move(fn));
  return v;
}

Value Value::namespace_(ValueDict attrs) {
  Value v = dict(std::move(attrs));
  v.type_ = Type::Namespace;
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& j, int depth) {
  if (depth > 256) fail(ErrorKind::InvalidArgument, "chat template input is nested more than 256 levels deep");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return none();
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      auto u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e, depth + 1));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      ValueDict items;
      items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        items.emplace_back(Value(it.key()), from_json(it.value(), depth + 1));
      return dict(std::move(items));
    }
    default: fail(ErrorKind::InvalidArgument, "chat template input holds an unsupported JSON value");
  }
}

bool Value::truthy() const {
  switch (type_) {
    case Type::Undefined:
    case Type::None: return false;
    case Type::Bool: return b_;
    case Type::Int: return i_ != 0;
    case Type::Float: return d_ != 0;
    case Type::String: return !s_.empty();
    case Type::List: return !list_->empty();
    case Type::Dict: return !dict_->empty();
    case Type::Callable:
    case Type::Namespace: return true;
  }
  return false;
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then laid out the way Python's repr() does:
  // positional for 1e-4 <= |d| < 1e16, scientific otherwise.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t epos = sci.find('e');
  std::string mant = sci.substr(0, epos);
  int exp = std::atoi(sci.c_str() + epos + 1);
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits.push_back(c);
  }
  if (exp >= -4 && exp < 16) {
    std::string out;
    if (exp < 0) {
      out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exp + 1) {
      out = digits + std::string(static_cast<size_t>(exp + 1) - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(exp + 1)) + "." + digits.substr(static_cast<size_t>(exp + 1));
    }
    return sign + out;
  }
  std::string out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char eb[16];
  std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
  return sign + out + eb;
}

namespace {

std::string str_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (char32_t c : py::decode(s)) {
    if (c == static_cast<char32_t>(q) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0xA0) || c == 0xAD || c > 0x10FFFF) {
      char b[16];
      std::snprintf(b, sizeof(b), "\\x%02x", static_cast<unsigned>(c > 0x10FFFF ? c - 0x110000 : c));
      out += b;
    } else {
      py::append(out, c);
    }
  }
  out.push_back(q);
  return out;
}

}  // namespace

std::string Value::to_str() const {
  switch (type_) {
    case Type::Undefined: return "";
    case Type::String: return s_;
    default: return repr();
  }
}

std::string Value::repr() const {
  switch (type_) {
    case Type::Undefined: return "";
    case Type::None: return "None";
    case Type::Bool: return b_ ? "True" : "False";
    case Type::Int: return std::to_string(i_);
    case Type::Float: return float_repr(d_);
    case Type::String: return str_repr(s_);
    case Type::List: {
      std::string out = tuple_ ? "(" : "[";
      for (size_t i = 0; i < list_->size(); ++i) {
        if (i) out += ", ";
        out += (*list_)[i].repr();
      }
      if (tuple_ && list_->size() == 1) out += ",";
      return out + (tuple_ ? ")" : "]");
    }
    case Type::Dict:
    case Type::Namespace: {
      std::string out = type_ == Type::Namespace ? "<Namespace {" : "{";
      for (size_t i = 0; i < dict_->size(); ++i) {
        if (i) out += ", ";
        out += (*dict_)[i].first.repr() + ": " + (*dict_)[i].second.repr();
      }
      return out + (type_ == Type::Namespace ? "}>" : "}");
    }
    case Type::Callable: return "<function " + s_ + ">";
  }
  return "";
}

const char* Value::type_name() const {
  switch (type_) {
    case Type::Undefined: return "Undefined";
    case Type::None: return "NoneType";
    case Type::Bool: return "bool";
    case Type::Int: return "int";
    case Type::Float: return "float";
    case Type::String: return "str";
    case Type::List: return tuple_ ? "tuple" : "list";
    case Type::Dict: return "dict";
    case Type::Callable: return "function";
    case Type::Namespace: return "Namespace";
  }
  return "object";
}

const Value* Value::find(const Value& key) const {
  if (type_ != Type::Dict && type_ != Type::Namespace) return nullptr;
  for (const auto& [k, v] : *dict_) {
    if (equals(k, key)) return &v;
  }
  return nullptr;
}

const Value* Value::find(const std::string& key) const {
  if (type_ != Type::Dict && type_ != Type::Namespace) return nullptr;
  for (const auto& [k, v] : *dict_) {
    if (k.is_string() && k.str() == key) return &v;
  }
  return nullptr;
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Type::Undefined:
    case Type::None: return true;
    case Type::String: return a.str() == b.str();
    case Type::List: {
      if (a.is_tuple() != b.is_tuple() || a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i) {
        if (!equals(a.items()[i], b.items()[i])) return false;
      }
      return true;
    }
    case Type::Dict: {
      if (a.entries().size() != b.entries().size()) return false;
      for (const auto& [k, v] : a.entries()) {
        const Value* o = b.find(k);
        if (!o || !equals(v, *o)) return false;
      }
      return true;
    }
    case Type::Namespace:
    case Type::Callable: return a.identity() == b.identity();
    default: return false;
  }
}

int compare(const Value& a, const Value& b, bool* ok) {
  *ok = true;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_float(), y = b.as_float();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    // UTF-8 byte order is code point order, which is what Python compares.
    int c = a.str().compare(b.str());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    size_t n = std::min(a.items().size(), b.items().size());
    for (size_t i = 0; i < n; ++i) {
      if (equals(a.items()[i], b.items()[i])) continue;
      return compare(a.items()[i], b.items()[i], ok);
    }
    return a.items().size() < b.items().size() ? -1 : a.items().size() > b.items().size() ? 1 : 0;
  }
  *ok = false;
  return 0;
}

const Value* CallArgs::get(size_t pos, const char* name) const {
  if (pos < positional.size()) return &positional[pos];
  for (const auto& [k, v] : keyword) {
    if (k == name) return &v;
  }
  return nullptr;
}

namespace {

void json_string(const std::string& s, bool ensure_ascii, std::string& out) {
  out.push_back('"');
  for (char32_t c : py::decode(s)) {
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    char b[16];
    if (c < 0x20 || (ensure_ascii && c >= 0x7F && c <= 0x10FFFF)) {
      if (c >= 0x10000) {
        const char32_t v = c - 0x10000;
        std::snprintf(b, sizeof(b), "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                      static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
      } else {
        std::snprintf(b, sizeof(b), "\\u%04x", static_cast<unsigned>(c));
      }
      out += b;
    } else if (c > 0x10FFFF) {
      // A raw invalid byte: Python would have failed to decode; keep it visible.
      std::snprintf(b, sizeof(b), "\\u%04x", static_cast<unsigned>(0xDC00 + (c - 0x110000)));
      out += b;
    } else {
      py::append(out, c);
    }
  }
  out.push_back('"');
}

void newline_indent(const JsonDumpOptions& o, int level, std::string& out) {
  out.push_back('\n');
  for (int i = 0; i < level; ++i) {
    if (o.indent_is_string) {
      out += o.indent_str;
    } else {
      out.append(static_cast<size_t>(o.indent), ' ');
    }
  }
}

bool json_key(const Value& k, std::string& key, std::string& error) {
  switch (k.type()) {
    case Type::String: key = k.str(); return true;
    case Type::None: key = "null"; return true;
    case Type::Bool: key = k.as_bool() ? "true" : "false"; return true;
    case Type::Int: key = std::to_string(k.as_int()); return true;
    case Type::Float: key = float_repr(k.as_float()); return true;
    default: error = std::string("keys must be str, int, float, bool or None, not ") + k.type_name(); return false;
  }
}

}  // namespace

bool json_dumps(const Value& v, const JsonDumpOptions& o, std::string& out, std::string& error, int depth) {
  if (depth > 256) {
    error = "maximum recursion depth exceeded while encoding a JSON object";
    return false;
  }
  const bool pretty = o.indent >= 0 || o.indent_is_string;
  switch (v.type()) {
    case Type::None: out += "null"; return true;
    case Type::Bool: out += v.as_bool() ? "true" : "false"; return true;
    case Type::Int: out += std::to_string(v.as_int()); return true;
    case Type::Float: {
      double d = v.as_float();
      if (std::isnan(d)) {
        out += "NaN";
      } else if (std::isinf(d)) {
        out += d < 0 ? "-Infinity" : "Infinity";
      } else {
        out += float_repr(d);
      }
      return true;
    }
    case Type::String: json_string(v.str(), o.ensure_ascii, out); return true;
    case Type::List: {
      if (v.items().empty()) {
        out += "[]";
        return true;
      }
      out.push_back('[');
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i) out += o.item_sep;
        if (pretty) newline_indent(o, depth + 1, out);
        if (!json_dumps(v.items()[i], o, out, error, depth + 1)) return false;
      }
      if (pretty) newline_indent(o, depth, out);
      out.push_back(']');
      return true;
    }
    case Type::Dict: {
      if (v.entries().empty()) {
        out += "{}";
        return true;
      }
      std::vector<std::pair<std::string, const Value*>> items;
      for (const auto& [k, val] : v.entries()) {
        std::string key;
        if (!json_key(k, key, error)) return false;
        items.emplace_back(std::move(key), &val);
      }
      if (o.sort_keys) {
        std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      out.push_back('{');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_sep;
        if (pretty) newline_indent(o, depth + 1, out);
        json_string(items[i].first, o.ensure_ascii, out);
        out += o.key_sep;
        if (!json_dumps(*items[i].second, o, out, error, depth + 1)) return false;
      }
      if (pretty) newline_indent(o, depth, out);
      out.push_back('}');
      return true;
    }
    default: error = std::string("Object of type ") + v.type_name() + " is not JSON serializable"; return false;
  }
}

}  // namespace ia::tok::jinja
