#pragma once
// Parses a template's tokens into a syntax tree, with jinja2's grammar and
// operator precedence. Unknown tags, unclosed blocks and malformed
// expressions are syntax errors naming the line.
#include <memory>
#include <string>

#include "tokenizers/chat_template/ast.h"

namespace ia::tok::jinja {

std::shared_ptr<const Template> parse(const std::string& source);

}  // namespace ia::tok::jinja
