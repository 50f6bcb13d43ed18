#pragma once
// The value type of the chat-template interpreter, with Python semantics:
// what jinja2 (the renderer transformers uses) does with Python objects is
// what a template expects, so truthiness, equality across types, str() and
// repr() follow Python rather than JSON.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ia::tok::jinja {

constexpr int kMaxValueDepth = 512;

class Value;
struct CallArgs;
class Interpreter;

using ValueList = std::vector<Value>;
// Python dicts keep insertion order; keys are Values (strings in practice).
using ValueDict = std::vector<std::pair<Value, Value>>;
using Function = std::function<Value(Interpreter&, CallArgs&)>;

enum class Type { Undefined, None, Bool, Int, Float, String, List, Dict, Callable, Namespace };

class Value {
 public:
  Value() = default;  // Undefined
  static Value undefined(std::string hint = {});
  static Value none();
  Value(bool b);
  Value(int64_t i);
  Value(int i) : Value(static_cast<int64_t>(i)) {}
  Value(double d);
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  static Value list(ValueList items = {}, bool tuple = false);
  static Value dict(ValueDict items = {});
  static Value function(std::string name, Function fn);
  static Value namespace_(ValueDict attrs = {});
  static Value from_json(const nlohmann::ordered_json& j, int depth = 0);

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::Undefined; }
  bool is_none() const { return type_ == Type::None; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_int() const { return type_ == Type::Int; }
  bool is_float() const { return type_ == Type::Float; }
  // Python's numbers (bool is an int there).
  bool is_number() const { return type_ == Type::Int || type_ == Type::Float || type_ == Type::Bool; }
  bool is_string() const { return type_ == Type::String; }
  bool is_list() const { return type_ == Type::List; }
  bool is_tuple() const { return type_ == Type::List && tuple_; }
  bool is_dict() const { return type_ == Type::Dict; }
  bool is_callable() const { return type_ == Type::Callable; }
  bool is_namespace() const { return type_ == Type::Namespace; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return type_ == Type::Bool ? (b_ ? 1 : 0) : i_; }
  double as_float() const { return type_ == Type::Float ? d_ : static_cast<double>(as_int()); }
  const std::string& str() const { return s_; }  // String; the hint of an Undefined
  const ValueList& items() const { return *list_; }
  const ValueDict& entries() const { return *dict_; }
  ValueDict& mutable_entries() const { return *dict_; }  // namespaces only
  const std::string& fn_name() const { return s_; }
  const Function& fn() const { return *fn_; }
  // Nesting depth of lists / dicts (bounded so printing and freeing stay shallow)
  // and whether a namespace is inside (a namespace may not hold one: no cycles).
  int depth() const { return depth_; }
  // Object identity of a list / dict / namespace / function (Python `is`).
  const void* identity() const {
    return list_   ? static_cast<const void*>(list_.get())
           : dict_ ? static_cast<const void*>(dict_.get())
                   : static_cast<const void*>(fn_.get());
  }
  bool holds_namespace() const { return holds_ns_; }

  // Python bool().
  bool truthy() const;
  // Python str(); Undefined prints as the empty string, as jinja2's default Undefined.
  std::string to_str() const;
  // Python repr() (how values print inside lists and dicts).
  std::string repr() const;
  // Python type name for error messages ("str", "int", "dict", ...).
  const char* type_name() const;
  // Dict/namespace lookup; nullptr if absent.
  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;

 private:
  Type type_ = Type::Undefined;
  bool b_ = false;
  bool tuple_ = false;
  bool holds_ns_ = false;
  int depth_ = 0;
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::shared_ptr<ValueList> list_;
  std::shared_ptr<ValueDict> dict_;
  std::shared_ptr<Function> fn_;
};

// Python ==.
bool equals(const Value& a, const Value& b);
// Python <; throws (via the callback's caller) when the types cannot be ordered.
// Returns -1, 0, 1; `ok` false when the types are not comparable.
int compare(const Value& a, const Value& b, bool* ok);

// Positional and keyword arguments of a call.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  int line = 0;
  // Returns the argument by position or keyword name, or nullptr.
  const Value* get(size_t pos, const char* name) const;
};

// Python float repr (shortest round-trip, '1e-05', '1.0').
std::string float_repr(double d);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  int indent = -1;         // -1: no indent; otherwise spaces
  std::string indent_str;  // used when indent_is_string
  bool indent_is_string = false;
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
};
// Python json.dumps; returns false with `error` set for unserializable values.
bool json_dumps(const Value& v, const JsonDumpOptions& opts, std::string& out, std::string& error, int depth = 0);

}  // namespace ia::tok::jinja
