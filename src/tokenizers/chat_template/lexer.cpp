// The template lexer (see lexer.h). Whitespace rules, as jinja2 applies them:
//  - `{%-` / `{{-` / `{#-` strip all whitespace before the tag, `-%}` / `-}}` /
//    `-#}` all whitespace after it;
//  - trim_blocks: one newline right after `%}` or `#}` is dropped (`+%}` keeps it);
//  - lstrip_blocks: spaces and tabs between the start of a line and `{%` / `{#`
//    are dropped (`{%+` keeps them); never before `{{`.
#include "tokenizers/chat_template/lexer.h"

#include <cstring>

#include "core/error.h"
#include "tokenizers/chat_template/py_string.h"

namespace ia::tok::jinja {

void syntax_error(int line, const std::string& message) {
  fail(ErrorKind::InvalidArgument, "chat template syntax error at line {}: {}", line, message);
}

namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool is_ident(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : s_(std::move(src)) {}

  std::vector<Token> run() {
    while (pos_ < s_.size()) {
      size_t tag = find_tag(pos_);
      if (tag == std::string::npos) {
        emit_text(s_.substr(pos_), line_);
        advance_to(s_.size());
        break;
      }
      const char kind = s_[tag + 1];  // '{', '%' or '#'
      const char control = tag + 2 < s_.size() ? s_[tag + 2] : '\0';
      std::string text = s_.substr(pos_, tag - pos_);
      const int text_line = line_;
      if (control == '-') {
        text = py::strip(text, nullptr, false, true);
      } else if (control != '+' && kind != '{') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if (l_pos > 0 || line_starting_) {
          bool blank = true;
          for (size_t i = l_pos; i < text.size(); ++i) blank = blank && (text[i] == ' ' || text[i] == '\t');
          if (blank) text.resize(l_pos);
        }
      }
      emit_text(std::move(text), text_line);
      advance_to(tag);
      const size_t body = tag + 2 + ((control == '-' || control == '+') ? 1 : 0);
      if (kind == '#') {
        comment(body);
      } else if (kind == '%' && is_raw(body)) {
        raw(body);
      } else {
        tag_body(kind == '{', body);
      }
    }
    out_.push_back({Tok::Eof, "", line_});
    return std::move(out_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = s_.find('{', from); i != std::string::npos; i = s_.find('{', i + 1)) {
      if (i + 1 < s_.size() && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  void advance_to(size_t p) {
    for (size_t i = pos_; i < p; ++i) line_ += s_[i] == '\n';
    pos_ = p;
  }

  void emit_text(std::string text, int line) {
    if (!text.empty()) out_.push_back({Tok::Text, std::move(text), line});
  }

  // After a block or comment end: `-` eats all whitespace, plain eats one newline.
  void after_block_end(size_t end_pos, char control) {
    advance_to(end_pos);
    if (control == '-') {
      while (pos_ < s_.size() && is_ws(s_[pos_])) advance_to(pos_ + 1);
    } else if (control != '+' && pos_ < s_.size() && s_[pos_] == '\n') {
      advance_to(pos_ + 1);
    }
    line_starting_ = pos_ > 0 && s_[pos_ - 1] == '\n';
  }

  void comment(size_t body) {
    size_t end = s_.find("#}", body);
    if (end == std::string::npos) syntax_error(line_, "missing end of comment tag");
    char control = end > body && (s_[end - 1] == '-' || s_[end - 1] == '+') ? s_[end - 1] : '\0';
    after_block_end(end + 2, control);
  }

  // Matches `\s*raw\s*[-+]?%}` at p; on success raw_end_ is the position after it.
  bool match_word_tag(size_t p, const char* word, size_t* after, char* control) const {
    while (p < s_.size() && is_ws(s_[p])) ++p;
    size_t n = std::strlen(word);
    if (s_.compare(p, n, word) != 0) return false;
    p += n;
    if (p < s_.size() && is_ident(s_[p])) return false;
    while (p < s_.size() && is_ws(s_[p])) ++p;
    char c = '\0';
    if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) c = s_[p++];
    if (s_.compare(p, 2, "%}") != 0) return false;
    *after = p + 2;
    *control = c;
    return true;
  }

  bool is_raw(size_t body) const {
    size_t after = 0;
    char c = 0;
    return match_word_tag(body, "raw", &after, &c);
  }

  void raw(size_t body) {
    size_t after = 0;
    char control = 0;
    match_word_tag(body, "raw", &after, &control);
    after_block_end(after, control);
    const int start_line = line_;
    for (size_t i = s_.find("{%", pos_); i != std::string::npos; i = s_.find("{%", i + 1)) {
      size_t p = i + 2;
      const char open_control = p < s_.size() && (s_[p] == '-' || s_[p] == '+') ? s_[p] : '\0';
      if (open_control) ++p;
      size_t end_after = 0;
      char end_control = 0;
      if (!match_word_tag(p, "endraw", &end_after, &end_control)) continue;
      std::string text = s_.substr(pos_, i - pos_);
      if (open_control == '-') text = py::strip(text, nullptr, false, true);
      emit_text(std::move(text), start_line);
      advance_to(i);
      after_block_end(end_after, end_control);
      return;
    }
    syntax_error(start_line, "missing end of raw directive");
  }

  void tag_body(bool is_var, size_t body) {
    out_.push_back({is_var ? Tok::VarBegin : Tok::BlockBegin, "", line_});
    advance_to(body);
    std::vector<char> brackets;
    while (true) {
      while (pos_ < s_.size() && is_ws(s_[pos_])) advance_to(pos_ + 1);
      if (pos_ >= s_.size()) {
        syntax_error(line_, is_var ? "unexpected end of template, expected '}}'"
                                   : "unexpected end of template, "
                                     "expected '%}'");
      }
      if (brackets.empty()) {
        if (is_var) {
          if (s_.compare(pos_, 3, "-}}") == 0 || s_.compare(pos_, 2, "}}") == 0) {
            const bool strip = s_[pos_] == '-';
            out_.push_back({Tok::VarEnd, "", line_});
            advance_to(pos_ + (strip ? 3 : 2));
            if (strip) {
              while (pos_ < s_.size() && is_ws(s_[pos_])) advance_to(pos_ + 1);
            }
            line_starting_ = pos_ > 0 && s_[pos_ - 1] == '\n';
            return;
          }
        } else {
          char control = '\0';
          size_t p = pos_;
          if (s_[p] == '-' || s_[p] == '+') control = s_[p++];
          if (s_.compare(p, 2, "%}") == 0) {
            out_.push_back({Tok::BlockEnd, "", line_});
            after_block_end(p + 2, control);
            return;
          }
        }
      }
      expression_token(brackets);
    }
  }

  void expression_token(std::vector<char>& brackets) {
    const char c = s_[pos_];
    const int line = line_;
    if (is_ident_start(c)) {
      size_t e = pos_;
      while (e < s_.size() && is_ident(s_[e])) ++e;
      out_.push_back({Tok::Name, s_.substr(pos_, e - pos_), line});
      advance_to(e);
      return;
    }
    if (is_digit(c)) {
      number();
      return;
    }
    if (c == '\'' || c == '"') {
      string_literal(c);
      return;
    }
    static const char* const two[] = {"//", "**", "==", "!=", "<=", ">="};
    for (const char* op : two) {
      if (s_.compare(pos_, 2, op) == 0) {
        out_.push_back({Tok::Op, op, line});
        advance_to(pos_ + 2);
        return;
      }
    }
    if (std::strchr("+-/*%~[](){}<>=.:|,;", c) != nullptr) {
      if (c == '(' || c == '[' || c == '{') {
        if (brackets.size() > 1000) syntax_error(line, "brackets nested too deeply");
        brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
      } else if (c == ')' || c == ']' || c == '}') {
        if (brackets.empty()) syntax_error(line, std::string("unexpected '") + c + "'");
        if (brackets.back() != c) {
          syntax_error(line, std::string("unexpected '") + c + "', expected '" + brackets.back() + "'");
        }
        brackets.pop_back();
      }
      out_.push_back({Tok::Op, std::string(1, c), line});
      advance_to(pos_ + 1);
      return;
    }
    syntax_error(line, std::string("unexpected char '") + c + "'");
  }

  void number() {
    size_t e = pos_;
    std::string digits;
    auto take_digits = [&] {
      while (e < s_.size() && (is_digit(s_[e]) || (s_[e] == '_' && e + 1 < s_.size() && is_digit(s_[e + 1])))) {
        if (s_[e] != '_') digits.push_back(s_[e]);
        ++e;
      }
    };
    take_digits();
    bool is_float = false;
    if (e + 1 < s_.size() && s_[e] == '.' && is_digit(s_[e + 1])) {
      is_float = true;
      digits.push_back('.');
      ++e;
      take_digits();
    }
    if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) {
      size_t p = e + 1;
      if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
      if (p < s_.size() && is_digit(s_[p])) {
        is_float = true;
        digits.push_back('e');
        if (s_[e + 1] == '-') digits.push_back('-');
        e = p;
        take_digits();
      }
    }
    out_.push_back({is_float ? Tok::Float : Tok::Int, digits, line_});
    advance_to(e);
  }

  void string_literal(char quote) {
    const int line = line_;
    std::string out;
    size_t p = pos_ + 1;
    while (true) {
      if (p >= s_.size()) syntax_error(line, "unterminated string");
      char c = s_[p];
      if (c == quote) break;
      if (c != '\\') {
        out.push_back(c);
        ++p;
        continue;
      }
      if (p + 1 >= s_.size()) syntax_error(line, "unterminated string");
      char e = s_[p + 1];
      p += 2;
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'v': out.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t v = 0;
          for (int k = 0; k < n; ++k) {
            int h = p < s_.size() ? hex_val(s_[p]) : -1;
            if (h < 0) syntax_error(line, std::string("truncated \\") + e + " escape in string");
            v = v * 16 + static_cast<uint32_t>(h);
            ++p;
          }
          if (v > 0x10FFFF) syntax_error(line, "illegal Unicode character in string escape");
          py::append(out, v);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t v = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && p < s_.size() && s_[p] >= '0' && s_[p] <= '7'; ++k) v = v * 8 + (s_[p++] - '0');
            py::append(out, v);
          } else {
            out.push_back('\\');
            out.push_back(e);
          }
      }
    }
    out_.push_back({Tok::String, std::move(out), line});
    advance_to(p + 1);
  }

  std::string s_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> lex(const std::string& source) {
  // jinja2 normalizes every newline to \n and, with keep_trailing_newline
  // off, drops one newline at the very end.
  std::string s;
  s.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      s.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      s.push_back(source[i]);
    }
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return Lexer(std::move(s)).run();
}

}  // namespace ia::tok::jinja
