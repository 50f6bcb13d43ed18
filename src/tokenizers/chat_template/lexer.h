#pragma once
// Splits a template into tokens the way jinja2's lexer does with the options
// transformers sets (trim_blocks and lstrip_blocks on, keep_trailing_newline
// off): text, {{ }} and {% %} delimiters, and the expression tokens inside
// them. Comments vanish; {% raw %} bodies become text; `-` and `+` whitespace
// control is applied here so the parser sees final text.
#include <string>
#include <vector>

namespace ia::tok::jinja {

enum class Tok { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok kind;
  std::string text;  // Text: the text; String: the decoded value; Name / Op / numbers: as written
  int line;
};

// Throws ia::Error (InvalidArgument, "chat template syntax error at line N: ...").
std::vector<Token> lex(const std::string& source);

[[noreturn]] void syntax_error(int line, const std::string& message);

}  // namespace ia::tok::jinja
