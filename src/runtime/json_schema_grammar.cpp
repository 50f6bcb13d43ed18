#include "runtime/json_schema_grammar.h"

#include <array>
#include <map>
#include <set>
#include <string>

#include "core/error.h"

namespace ia::grammar {

namespace {

using json = nlohmann::ordered_json;  // properties in the schema's order

Symbol ref(int32_t rule) {
  return Symbol::of(rule);
}
Symbol bytes(ByteSet b) {
  return Symbol::of(b);
}
Sequence cat(std::initializer_list<Sequence> parts) {
  Sequence out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// The rules every JSON grammar shares, then what a schema adds.
class JsonGrammarBuilder {
 public:
  explicit JsonGrammarBuilder(const SchemaLimits& limits) : limits_(limits) {
    ws_ = g_.add_rule("ws");
    const int32_t indent = g_.repeat("indent", Grammar::literal(" "), 0, 32);
    g_.set_alternatives(ws_, {{}, Grammar::literal(" "), cat({Grammar::literal("\n"), {ref(indent)}})});

    // One character of a string: printable ASCII but the quote and backslash, an escape, or a
    // well-formed UTF-8 sequence (no overlongs, surrogates or code points past U+10FFFF).
    char_ = g_.add_rule("char");
    ByteSet plain = Grammar::range(0x20, 0x7F);
    plain.reset('"');
    plain.reset('\\');
    ByteSet escaped;
    for (char c : std::string("\"\\/bfnrt")) escaped.set(static_cast<unsigned char>(c));
    ByteSet hex = Grammar::range('0', '9') | Grammar::range('a', 'f') | Grammar::range('A', 'F');
    const ByteSet cont = Grammar::range(0x80, 0xBF);
    g_.set_alternatives(
        char_, {{bytes(plain)},
                {bytes(Grammar::byte('\\')), bytes(escaped)},
                {bytes(Grammar::byte('\\')), bytes(Grammar::byte('u')), bytes(hex), bytes(hex), bytes(hex), bytes(hex)},
                {bytes(Grammar::range(0xC2, 0xDF)), bytes(cont)},
                {bytes(Grammar::byte(0xE0)), bytes(Grammar::range(0xA0, 0xBF)), bytes(cont)},
                {bytes(Grammar::range(0xE1, 0xEC)), bytes(cont), bytes(cont)},
                {bytes(Grammar::byte(0xED)), bytes(Grammar::range(0x80, 0x9F)), bytes(cont)},
                {bytes(Grammar::range(0xEE, 0xEF)), bytes(cont), bytes(cont)},
                {bytes(Grammar::byte(0xF0)), bytes(Grammar::range(0x90, 0xBF)), bytes(cont), bytes(cont)},
                {bytes(Grammar::range(0xF1, 0xF3)), bytes(cont), bytes(cont), bytes(cont)},
                {bytes(Grammar::byte(0xF4)), bytes(Grammar::range(0x80, 0x8F)), bytes(cont), bytes(cont)}});
    string_ = string_rule(0, -1);

    // Numbers are bounded so a model cannot run on in digits and every output fits a double:
    // at most 16 integer and 16 fraction digits, exponents of at most two digits.
    const ByteSet digit = Grammar::range('0', '9');
    const int32_t sign = g_.add_rule("minus");
    g_.set_alternatives(sign, {{}, Grammar::literal("-")});
    const int32_t more_digits = g_.repeat("integer-digits", {bytes(digit)}, 0, 15);
    const int32_t natural = g_.add_rule("natural");
    g_.set_alternatives(natural, {Grammar::literal("0"), {bytes(Grammar::range('1', '9')), ref(more_digits)}});
    integer_ = g_.add_rule("integer");
    g_.set_alternatives(integer_, {{ref(sign), ref(natural)}});
    const int32_t frac_digits = g_.repeat("fraction-digits", {bytes(digit)}, 1, 16);
    const int32_t frac = g_.add_rule("fraction");
    g_.set_alternatives(frac, {{}, cat({Grammar::literal("."), {ref(frac_digits)}})});
    const int32_t exp_digits = g_.repeat("exponent-digits", {bytes(digit)}, 1, 2);
    const int32_t exp_sign = g_.add_rule("exponent-sign");
    g_.set_alternatives(exp_sign, {{}, Grammar::literal("+"), Grammar::literal("-")});
    const int32_t exp = g_.add_rule("exponent");
    g_.set_alternatives(exp, {{}, {bytes(Grammar::byte('e') | Grammar::byte('E')), ref(exp_sign), ref(exp_digits)}});
    number_ = g_.add_rule("number");
    g_.set_alternatives(number_, {{ref(integer_), ref(frac), ref(exp)}});
    boolean_ = g_.add_rule("boolean");
    g_.set_alternatives(boolean_, {Grammar::literal("true"), Grammar::literal("false")});
    null_ = g_.add_rule("null");
    g_.set_alternatives(null_, {Grammar::literal("null")});

    // Any value; objects and arrays of any values.
    value_ = g_.add_rule("value");
    object_ = object_of(string_, value_, "object");
    array_ = array_of(value_, 0, -1, "array");
    g_.set_alternatives(value_,
                        {{ref(object_)}, {ref(array_)}, {ref(string_)}, {ref(number_)}, {ref(boolean_)}, {ref(null_)}});
  }

  Grammar object_only() {
    g_.set_root(object_);
    g_.finish();
    return std::move(g_);
  }

  Grammar schema(const json& root, std::string_view before, std::string_view after) {
    root_ = &root;
    int32_t r = compile(root, "#", 0);
    if (!before.empty() || !after.empty()) {
      const int32_t framed = rule("framed");
      g_.set_alternatives(framed, {cat({Grammar::literal(before), {ref(r)}, Grammar::literal(after)})});
      r = framed;
    }
    g_.set_root(r);
    g_.finish();
    return std::move(g_);
  }

 private:
  int32_t rule(const std::string& name) {
    if (g_.rules() >= limits_.max_rules)
      fail(ErrorKind::InvalidArgument, "json_schema: the schema is too large (more than {} grammar rules)",
           limits_.max_rules);
    return g_.add_rule(name);
  }

  // A JSON string of min..max characters (max < 0: unbounded).
  int32_t string_rule(int min, int max) {
    const int32_t chars = g_.repeat("chars", {ref(char_)}, min, max);
    const int32_t r = g_.add_rule("string");
    g_.set_alternatives(r, {cat({Grammar::literal("\""), {ref(chars)}, Grammar::literal("\"")})});
    return r;
  }

  // "{" ws ( key ws ":" ws value ws ( "," ws key ws ":" ws value ws )* )? "}"
  int32_t object_of(int32_t key, int32_t value, const std::string& name) {
    const int32_t member = rule(name + "-member");
    g_.set_alternatives(member, {{ref(key), ref(ws_), bytes(Grammar::byte(':')), ref(ws_), ref(value), ref(ws_)}});
    const int32_t more = g_.repeat(name + "-more", {bytes(Grammar::byte(',')), ref(ws_), ref(member)}, 0, -1);
    const int32_t members = rule(name + "-members");
    g_.set_alternatives(members, {{}, {ref(member), ref(more)}});
    const int32_t r = rule(name);
    g_.set_alternatives(r, {cat({Grammar::literal("{"), {ref(ws_), ref(members)}, Grammar::literal("}")})});
    return r;
  }

  // "[" ws ( item ws ( "," ws item ws ){min-1, max-1} )? "]"
  int32_t array_of(int32_t item, int min, int max, const std::string& name) {
    const int32_t first = rule(name + "-item");
    g_.set_alternatives(first, {{ref(item), ref(ws_)}});
    const Sequence next = {bytes(Grammar::byte(',')), ref(ws_), ref(item), ref(ws_)};
    const int32_t rest = g_.repeat(name + "-rest", next, std::max(0, min - 1), max < 0 ? -1 : std::max(0, max - 1));
    const int32_t items = rule(name + "-items");
    std::vector<Sequence> alts = {{ref(first), ref(rest)}};
    if (min == 0) alts.push_back({});
    g_.set_alternatives(items, alts);
    const int32_t r = rule(name);
    g_.set_alternatives(r, {cat({Grammar::literal("["), {ref(ws_), ref(items)}, Grammar::literal("]")})});
    return r;
  }

  int32_t literal_value(const json& v) {
    const int32_t r = rule("literal");
    g_.set_alternatives(r, {Grammar::literal(v.dump())});
    return r;
  }

  int bound(const json& s, const char* key, const std::string& at, int fallback) {
    if (!s.contains(key)) return fallback;
    const json& v = s[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > limits_.max_bounded_repeat)
      fail(ErrorKind::InvalidArgument, "json_schema: '{}' at {} must be an integer in [0, {}]", key, at,
           limits_.max_bounded_repeat);
    return v.get<int>();
  }

  void check_keywords(const json& s, const std::string& at) {
    static const std::set<std::string> honoured = {"type",
                                                   "enum",
                                                   "const",
                                                   "anyOf",
                                                   "oneOf",
                                                   "allOf",
                                                   "$ref",
                                                   "nullable",
                                                   "properties",
                                                   "required",
                                                   "additionalProperties",
                                                   "items",
                                                   "minItems",
                                                   "maxItems",
                                                   "minLength",
                                                   "maxLength"};
    static const std::set<std::string> annotations = {"title",    "description", "default",   "examples",    "$schema",
                                                      "$id",      "$comment",    "$defs",     "definitions", "strict",
                                                      "readOnly", "writeOnly",   "deprecated"};
    for (const auto& [k, v] : s.items())
      if (!honoured.count(k) && !annotations.count(k))
        fail(ErrorKind::InvalidArgument, "json_schema: keyword '{}' at {} is not supported for constrained output", k,
             at);
  }

  const json& resolve_ref(const std::string& pointer, const std::string& at) {
    if (pointer.empty() || pointer[0] != '#')
      fail(ErrorKind::InvalidArgument, "json_schema: $ref '{}' at {} is not a reference into this schema", pointer, at);
    try {
      const std::string path = pointer.substr(1);
      const json& target = path.empty() ? *root_ : root_->at(json::json_pointer(path));
      return target;
    } catch (const json::exception&) {
      fail(ErrorKind::InvalidArgument, "json_schema: $ref '{}' at {} points at nothing", pointer, at);
    }
  }

  int32_t compile(const json& s, const std::string& at, int depth) {
    if (depth > limits_.max_depth)
      fail(ErrorKind::InvalidArgument, "json_schema: nested deeper than {} at {}", limits_.max_depth, at);
    if (s.is_boolean()) {
      if (!s.get<bool>()) fail(ErrorKind::InvalidArgument, "json_schema: schema false at {} accepts nothing", at);
      return value_;
    }
    if (!s.is_object()) fail(ErrorKind::InvalidArgument, "json_schema: the schema at {} is not an object", at);
    check_keywords(s, at);
    if (s.contains("$ref")) {
      if (!s["$ref"].is_string()) fail(ErrorKind::InvalidArgument, "json_schema: $ref at {} is not a string", at);
      const std::string target = s["$ref"].get<std::string>();
      if (auto it = refs_.find(target); it != refs_.end()) return it->second;
      // Made before it is compiled, so a schema that refers to itself refers to this rule.
      const int32_t r = rule("ref");
      refs_[target] = r;
      g_.set_alternatives(r, {{ref(compile(resolve_ref(target, at), target, depth + 1))}});
      return r;
    }
    if (s.contains("const")) return literal_value(s["const"]);
    if (s.contains("enum")) {
      if (!s["enum"].is_array() || s["enum"].empty() || s["enum"].size() > limits_.max_alternatives)
        fail(ErrorKind::InvalidArgument, "json_schema: enum at {} must be a list of 1 to {} values", at,
             limits_.max_alternatives);
      const int32_t r = rule("enum");
      std::vector<Sequence> alts;
      for (const auto& v : s["enum"]) alts.push_back(Grammar::literal(v.dump()));
      g_.set_alternatives(r, alts);
      return r;
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      if (!s[key].is_array() || s[key].empty() || s[key].size() > limits_.max_alternatives)
        fail(ErrorKind::InvalidArgument, "json_schema: {} at {} must be a list of 1 to {} schemas", key, at,
             limits_.max_alternatives);
      const int32_t r = rule(key);
      std::vector<Sequence> alts;
      for (size_t i = 0; i < s[key].size(); ++i)
        alts.push_back({ref(compile(s[key][i], at + "/" + key + "/" + std::to_string(i), depth + 1))});
      g_.set_alternatives(r, alts);
      return r;
    }
    if (s.contains("allOf")) {
      if (!s["allOf"].is_array() || s["allOf"].size() != 1)
        fail(ErrorKind::InvalidArgument, "json_schema: allOf at {} is supported with exactly one schema", at);
      return compile(s["allOf"][0], at + "/allOf/0", depth + 1);
    }

    std::vector<std::string> types;
    if (s.contains("type")) {
      const json& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const auto& x : t) {
          if (!x.is_string()) fail(ErrorKind::InvalidArgument, "json_schema: type at {} must name types", at);
          types.push_back(x.get<std::string>());
        }
      } else {
        fail(ErrorKind::InvalidArgument, "json_schema: type at {} must be a string or a list", at);
      }
    } else if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required")) {
      types.push_back("object");
    } else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
      types.push_back("array");
    } else if (s.contains("minLength") || s.contains("maxLength")) {
      types.push_back("string");
    } else {
      return value_;
    }
    if (s.contains("nullable")) {
      if (!s["nullable"].is_boolean())
        fail(ErrorKind::InvalidArgument, "json_schema: nullable at {} must be a boolean", at);
      if (s["nullable"].get<bool>()) types.push_back("null");
    }
    std::vector<Sequence> alts;
    for (const auto& t : types) alts.push_back({ref(compile_type(s, t, at, depth))});
    if (alts.size() == 1) return alts[0][0].rule;
    const int32_t r = rule("types");
    g_.set_alternatives(r, alts);
    return r;
  }

  int32_t compile_type(const json& s, const std::string& type, const std::string& at, int depth) {
    if (type == "string") {
      const int min = bound(s, "minLength", at, 0), max = bound(s, "maxLength", at, -1);
      if (max >= 0 && max < min) fail(ErrorKind::InvalidArgument, "json_schema: maxLength < minLength at {}", at);
      return min == 0 && max < 0 ? string_ : string_rule(min, max);
    }
    if (type == "number") return number_;
    if (type == "integer") return integer_;
    if (type == "boolean") return boolean_;
    if (type == "null") return null_;
    if (type == "array") {
      const int min = bound(s, "minItems", at, 0), max = bound(s, "maxItems", at, -1);
      if (max >= 0 && max < min) fail(ErrorKind::InvalidArgument, "json_schema: maxItems < minItems at {}", at);
      const int32_t item = s.contains("items") ? compile(s["items"], at + "/items", depth + 1) : value_;
      if (max == 0) {
        const int32_t r = rule("empty-array");
        g_.set_alternatives(r, {cat({Grammar::literal("["), {ref(ws_)}, Grammar::literal("]")})});
        return r;
      }
      return array_of(item, min, max, "array");
    }
    if (type == "object") return compile_object(s, at, depth);
    fail(ErrorKind::InvalidArgument, "json_schema: unknown type '{}' at {}", type, at);
  }

  int32_t compile_object(const json& s, const std::string& at, int depth) {
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) fail(ErrorKind::InvalidArgument, "json_schema: required at {} must be a list", at);
      for (const auto& r : s["required"]) {
        if (!r.is_string()) fail(ErrorKind::InvalidArgument, "json_schema: required at {} must name properties", at);
        required.insert(r.get<std::string>());
      }
    }
    const json* props = s.contains("properties") ? &s["properties"] : nullptr;
    if (props && !props->is_object())
      fail(ErrorKind::InvalidArgument, "json_schema: properties at {} must be an object", at);
    if (!props || props->empty()) {
      if (!required.empty())
        fail(ErrorKind::InvalidArgument, "json_schema: required at {} names properties the schema does not give", at);
      const json extra = s.value("additionalProperties", json(true));
      if (extra.is_boolean() && !extra.get<bool>()) {
        const int32_t r = rule("empty-object");
        g_.set_alternatives(r, {cat({Grammar::literal("{"), {ref(ws_)}, Grammar::literal("}")})});
        return r;
      }
      return object_of(string_, compile(extra, at + "/additionalProperties", depth + 1), "object");
    }
    for (const auto& name : required)
      if (!props->contains(name))
        fail(ErrorKind::InvalidArgument, "json_schema: required property '{}' at {} is not among its properties", name,
             at);
    // The members in the schema's order: each required one always, each other one maybe. A rule
    // per (position, whether a comma is owed) keeps the commas right when leading ones are left out.
    struct Member {
      int32_t rule;
      bool required;
    };
    std::vector<Member> members;
    for (const auto& [name, sub] : props->items()) {
      const int32_t value = compile(sub, at + "/properties/" + name, depth + 1);
      const int32_t m = rule("member");
      g_.set_alternatives(m, {cat({Grammar::literal(json(name).dump()),
                                   {ref(ws_)},
                                   Grammar::literal(":"),
                                   {ref(ws_)},
                                   {ref(value)},
                                   {ref(ws_)}})});
      members.push_back({m, required.count(name) > 0});
    }
    const size_t n = members.size();
    std::vector<std::array<int32_t, 2>> tails(n + 1);  // tails[i][comma owed]
    for (size_t i = n + 1; i-- > 0;)
      for (int comma = 0; comma < 2; ++comma) tails[i][static_cast<size_t>(comma)] = rule("members");
    for (size_t i = n + 1; i-- > 0;) {
      for (int comma = 0; comma < 2; ++comma) {
        std::vector<Sequence> alts;
        if (i == n) {
          alts.push_back({});
        } else {
          Sequence take;
          if (comma) take = {bytes(Grammar::byte(',')), ref(ws_)};
          take.push_back(ref(members[i].rule));
          take.push_back(ref(tails[i + 1][1]));
          alts.push_back(take);
          if (!members[i].required) alts.push_back({ref(tails[i + 1][static_cast<size_t>(comma)])});
        }
        g_.set_alternatives(tails[i][static_cast<size_t>(comma)], alts);
      }
    }
    const int32_t r = rule("object");
    g_.set_alternatives(r, {cat({Grammar::literal("{"), {ref(ws_), ref(tails[0][0])}, Grammar::literal("}")})});
    return r;
  }

  SchemaLimits limits_;
  Grammar g_;
  const json* root_ = nullptr;
  std::map<std::string, int32_t> refs_;
  int32_t ws_ = -1, char_ = -1, string_ = -1, integer_ = -1, number_ = -1, boolean_ = -1, null_ = -1, value_ = -1,
          object_ = -1, array_ = -1;
};

}  // namespace

Grammar json_object_grammar() {
  return JsonGrammarBuilder(SchemaLimits{}).object_only();
}

Grammar json_schema_grammar(const nlohmann::ordered_json& schema, const SchemaLimits& limits, std::string_view before,
                            std::string_view after) {
  return JsonGrammarBuilder(limits).schema(schema, before, after);
}

}  // namespace ia::grammar
