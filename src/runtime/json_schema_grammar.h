#pragma once
// Grammars for constrained JSON output: any JSON object (OpenAI's response_format json_object)
// and the JSON texts a JSON Schema accepts (json_schema). Whitespace between tokens is bounded
// (one space, or a newline and up to 32 spaces of indent) and so are numbers (16 integer and 16
// fraction digits, two exponent digits), so a model cannot run on and every number fits a double.
//
// Schema keywords honoured: type (one or a list), enum, const, anyOf / oneOf (as alternatives;
// oneOf's exclusivity is not enforced), allOf of one schema, $ref to "#/..." (recursive schemas
// included), nullable; objects: properties in their order (required ones always, the others may
// be left out; the schema is an ordered_json so that order is the one written), required, additionalProperties (false,
// true or a schema; with properties given, only those are generated); arrays: items, minItems, maxItems; strings:
// minLength, maxLength. Annotations (title, description, default, examples, $schema, $id, $comment, $defs, definitions,
// strict) are ignored. Any other keyword (pattern, format, minimum, ...) is refused with InvalidArgument naming it and
// where it is: an output that might not validate is never passed off as constrained.
#include <string_view>

#include <nlohmann/json.hpp>

#include "runtime/grammar.h"

namespace ia::grammar {

struct SchemaLimits {
  int max_depth = 64;              // nesting of schemas
  size_t max_rules = 20000;        // rules the schema turns into
  int max_bounded_repeat = 256;    // minItems / maxItems / minLength / maxLength
  size_t max_alternatives = 1024;  // values of an enum, schemas of an anyOf / oneOf: the matcher follows each
};

Grammar json_object_grammar();
// `before` and `after` are literal text around the JSON (a forced tool call's <tool_call> tags).
Grammar json_schema_grammar(const nlohmann::ordered_json& schema, const SchemaLimits& limits = {},
                            std::string_view before = {}, std::string_view after = {});

}  // namespace ia::grammar
