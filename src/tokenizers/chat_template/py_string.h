#pragma once
// Python str operations on UTF-8 text. Python strings are sequences of code
// points, so length, indexing and slicing count code points, not bytes.
// Decoding is lossless: a byte that is not valid UTF-8 becomes a private
// value above U+10FFFF and is written back as the same byte.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ia::tok::jinja::py {

using U32 = std::u32string;

U32 decode(std::string_view s);
std::string encode(const U32& s);
void append(std::string& out, char32_t c);
size_t length(std::string_view s);  // code points

bool is_space(char32_t c);  // Python str.isspace
bool is_alpha(char32_t c);
bool is_digit(char32_t c);
bool is_upper(char32_t c);
bool is_lower(char32_t c);
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);
char32_t to_title(char32_t c);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);       // str.title()
std::string capitalize(std::string_view s);  // str.capitalize()
// str.strip / lstrip / rstrip; chars == nullptr strips whitespace.
std::string strip(std::string_view s, const std::string* chars, bool left, bool right);
// str.split(sep, maxsplit); sep == nullptr splits on runs of whitespace.
std::vector<std::string> split(std::string_view s, const std::string* sep, int64_t maxsplit);
std::vector<std::string> rsplit(std::string_view s, const std::string* sep, int64_t maxsplit);
std::vector<std::string> splitlines(std::string_view s, bool keepends);
std::string replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count);
// str.count: non-overlapping occurrences.
size_t count(std::string_view s, std::string_view sub);

}  // namespace ia::tok::jinja::py
