// The byte grammar matcher and the JSON / JSON Schema grammars built on it: what they accept and
// refuse byte by byte, and the schemas they refuse to build.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "runtime/grammar.h"
#include "runtime/json_schema_grammar.h"

namespace ia::grammar {
namespace {

using json = nlohmann::ordered_json;

bool accepts(const Grammar& g, const std::string& text) {
  GrammarMatcher m(g);
  return m.accept(text) && m.complete();
}

bool prefix_ok(const Grammar& g, const std::string& text) {
  GrammarMatcher m(g);
  return m.accept(text);
}

TEST(Grammar, RepetitionBoundsAndAlternatives) {
  Grammar g;
  const int32_t ab = g.add_rule("ab");
  g.set_alternatives(ab, {Grammar::literal("a"), Grammar::literal("bc")});
  const int32_t root = g.repeat("root", {Symbol::of(ab)}, 2, 3);
  g.set_root(root);
  g.finish();
  EXPECT_FALSE(accepts(g, "a"));
  EXPECT_TRUE(accepts(g, "aa"));
  EXPECT_TRUE(accepts(g, "abc"));
  EXPECT_TRUE(accepts(g, "bcabc"));
  EXPECT_TRUE(accepts(g, "aaa"));
  EXPECT_FALSE(prefix_ok(g, "aaaa"));
  EXPECT_FALSE(prefix_ok(g,
                         "ab"
                         "b"));
  GrammarMatcher m(g);
  ASSERT_TRUE(m.accept("aa"));
  EXPECT_TRUE(m.complete());
  EXPECT_TRUE(m.can_continue());
  ASSERT_TRUE(m.accept("a"));
  EXPECT_FALSE(m.can_continue());
  // A refused byte leaves the matcher as it was.
  GrammarMatcher n(g);
  ASSERT_TRUE(n.accept("a"));
  EXPECT_FALSE(n.accept("ax"));
  EXPECT_TRUE(n.accept("a"));
  EXPECT_TRUE(n.complete());
}

TEST(Grammar, UnboundedRightRecursionKeepsTheStackFlat) {
  Grammar g;
  const int32_t root = g.repeat("root", Grammar::literal("x"), 0, -1);
  g.set_root(root);
  g.finish();
  GrammarMatcher m(g);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(m.accept('x'));
  EXPECT_TRUE(m.complete());
}

TEST(Grammar, LeftRecursionAndMissingRulesAreRefused) {
  Grammar g;
  const int32_t a = g.add_rule("a");
  g.set_alternatives(a, {{Symbol::of(a), Symbol::of(Grammar::byte('x'))}, Grammar::literal("y")});
  g.set_root(a);
  EXPECT_THROW(g.finish(), Error);
  Grammar h;
  const int32_t b = h.add_rule("b");
  h.set_root(b);
  EXPECT_THROW(h.finish(), Error);  // no alternatives
  // Left recursion through a rule that can match nothing.
  Grammar k;
  const int32_t e = k.add_rule("empty"), c = k.add_rule("c");
  k.set_alternatives(e, {{}});
  k.set_alternatives(c, {{Symbol::of(e), Symbol::of(c), Symbol::of(Grammar::byte('x'))}, Grammar::literal("z")});
  k.set_root(c);
  EXPECT_THROW(k.finish(), Error);
}

TEST(JsonGrammar, AnyObjectAcceptsValidJsonObjectsOnly) {
  const Grammar g = json_object_grammar();
  for (const std::string ok :
       {"{}", "{ }", R"({"a":1})", R"({"a": [1, 2.5, -3e+2, true, false, null], "b": {"c": "\u00e9\n"}})",
        "{\n  \"k\": \"caf\xC3\xA9 \xF0\x9F\x98\x80\"\n}", R"({"a":0.0,"b":-0,"c":1E5})"})
    EXPECT_TRUE(accepts(g, ok)) << ok;
  for (const std::string bad :
       {"[]", "\"s\"", "{", R"({"a":01})", R"({"a":1,})", R"({a:1})", R"({"a":.5})", "{\"a\":\"\x01\"}",
        "{\"a\":\"\xC0\xAF\"}", "{\"a\":\"\xED\xA0\x80\"}", R"({"a":"\x"})", R"({"a":tru})", "{}{}"})
    EXPECT_FALSE(accepts(g, bad)) << bad;
  // Whitespace is bounded: a model cannot pad forever.
  EXPECT_FALSE(prefix_ok(g, "{" + std::string(40, ' ')));
  EXPECT_TRUE(prefix_ok(g, "{\n" + std::string(32, ' ')));
  EXPECT_FALSE(prefix_ok(g, "{\n" + std::string(33, ' ')));
  // So are numbers.
  EXPECT_TRUE(accepts(g, R"({"a":-1234567890123456.1234567890123456e-99})"));
  EXPECT_FALSE(prefix_ok(g, R"({"a":12345678901234567)"));
  EXPECT_FALSE(prefix_ok(g, R"({"a":1.12345678901234567)"));
  EXPECT_FALSE(prefix_ok(g, R"({"a":1e123)"));
}

TEST(JsonSchemaGrammar, ObjectsFollowPropertiesRequiredAndOrder) {
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "minLength": 1, "maxLength": 4},
      "age": {"type": "integer"},
      "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
      "ok": {"type": ["boolean", "null"]}
    },
    "required": ["name", "ok"],
    "additionalProperties": false
  })");
  const Grammar g = json_schema_grammar(schema);
  for (const std::string ok :
       {R"({"name":"bob","ok":true})", R"({"name": "b", "age": 42, "tags": ["a","b"], "ok": null})",
        R"({"name":"abcd","tags":[],"ok":false})"})
    EXPECT_TRUE(accepts(g, ok)) << ok;
  for (const std::string bad :
       {R"({"ok":true})", R"({"name":"bob"})", R"({"name":"","ok":true})", R"({"name":"abcde","ok":true})",
        R"({"age":1,"name":"b","ok":true})", R"({"name":"b","age":1.5,"ok":true})",
        R"({"name":"b","tags":["c"],"ok":true})", R"({"name":"b","tags":["a","a","a"],"ok":true})",
        R"({"name":"b","ok":true,"x":1})", R"({"name":"b","ok":1})"})
    EXPECT_FALSE(accepts(g, bad)) << bad;
}

TEST(JsonSchemaGrammar, LeadingOptionalPropertiesLeaveNoStrayComma) {
  const Grammar g = json_schema_grammar(
      json::parse(R"({"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"}}})"));
  for (const std::string ok : {"{}", R"({"c":3})", R"({"b":2,"c":3})", R"({"a":1,"c":3})", R"({"a":1})"})
    EXPECT_TRUE(accepts(g, ok)) << ok;
  for (const std::string bad : {R"({,"c":3})", R"({"a":1,})", R"({"c":3,"a":1})"}) EXPECT_FALSE(accepts(g, bad)) << bad;
}

TEST(JsonSchemaGrammar, RefsConstAnyOfAndRecursion) {
  const json schema = json::parse(R"({
    "$defs": {"node": {"type": "object", "properties": {"v": {"const": 7}, "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
                       "required": ["v", "next"]}},
    "$ref": "#/$defs/node"
  })");
  const Grammar g = json_schema_grammar(schema);
  EXPECT_TRUE(accepts(g, R"({"v":7,"next":null})"));
  EXPECT_TRUE(accepts(g, R"({"v":7,"next":{"v":7,"next":{"v":7,"next":null}}})"));
  EXPECT_FALSE(accepts(g, R"({"v":8,"next":null})"));
  EXPECT_FALSE(accepts(g, R"({"v":7,"next":{"v":7}})"));
}

TEST(JsonSchemaGrammar, UnsupportedKeywordsAreRefusedByName) {
  for (const char* s :
       {R"({"type":"string","pattern":"^a"})", R"({"type":"integer","minimum":0})",
        R"({"type":"object","properties":{"d":{"type":"string","format":"date"}}})", R"({"$ref":"#/nowhere"})",
        R"({"type":"frobnicate"})", "false", "[1]", R"({"type":"array","maxItems":100000})", R"({"allOf":[{}, {}]})",
        R"({"properties":{"a":{}},"required":["b"]})"}) {
    try {
      json_schema_grammar(json::parse(s));
      ADD_FAILURE() << "accepted " << s;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << s;
      EXPECT_NE(std::string(e.what()).find("json_schema"), std::string::npos) << e.what();
    }
  }
  try {
    json_schema_grammar(json::parse(R"({"type":"object","properties":{"d":{"type":"string","format":"date"}}})"));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'format' at #/properties/d"), std::string::npos) << e.what();
  }
}

TEST(JsonSchemaGrammar, DeepOrHugeSchemasAreRefused) {
  json deep = json::object();
  json* at = &deep;
  for (int i = 0; i < 100; ++i) {
    (*at)["type"] = "array";
    (*at)["items"] = json::object();
    at = &(*at)["items"];
  }
  EXPECT_THROW(json_schema_grammar(deep), Error);
  json wide = {{"type", "object"}, {"properties", json::object()}};
  for (int i = 0; i < 20000; ++i) wide["properties"]["p" + std::to_string(i)] = {{"type", "integer"}};
  EXPECT_THROW(json_schema_grammar(wide), Error);
}

}  // namespace
}  // namespace ia::grammar
