// libFuzzer target for constrained output: a request's JSON schema turned into a grammar
// (runtime/json_schema_grammar), then bytes run through its matcher. The input is a schema, a NUL
// byte, and the text to match. Any schema must either compile within the limits or throw an
// InvalidArgument; the matcher must never crash, and what it accepts as complete must parse as JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "runtime/grammar.h"
#include "runtime/json_schema_grammar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t split = in.find('\0');
  const std::string_view schema_text = in.substr(0, split);
  const std::string_view text = split == std::string_view::npos ? std::string_view() : in.substr(split + 1);
  const auto schema = nlohmann::ordered_json::parse(schema_text, nullptr, false);
  if (schema.is_discarded()) return 0;
  try {
    const ia::grammar::Grammar g = ia::grammar::json_schema_grammar(schema);
    ia::grammar::GrammarMatcher m(g);
    size_t taken = 0;
    for (char c : text) {
      if (!m.accept(static_cast<unsigned char>(c))) break;
      ++taken;
    }
    if (m.complete() && nlohmann::json::parse(text.substr(0, taken), nullptr, false).is_discarded()) std::abort();
  } catch (const ia::Error& e) {
    if (e.kind() != ia::ErrorKind::InvalidArgument) std::abort();
  }
  return 0;
}
