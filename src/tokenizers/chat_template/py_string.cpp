// Python str semantics over UTF-8 (see py_string.h).
#include "tokenizers/chat_template/py_string.h"

#include <utf8proc.h>

#include "tokenizers/unicode.h"

namespace ia::tok::jinja::py {

namespace {
constexpr char32_t kRawByteBase = 0x110000;  // invalid bytes live above Unicode

bool valid_cp(char32_t c) {
  return c < 0x110000 && !(c >= 0xD800 && c <= 0xDFFF);
}
}  // namespace

U32 decode(std::string_view s) {
  U32 out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    // Bytes that are not well-formed UTF-8 (as Python's decoder judges it)
    // are kept one by one as raw-byte values so encode() restores them.
    if (uni::valid_seq_len(s, i) == 0) {
      out.push_back(kRawByteBase + static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    size_t n = 0;
    out.push_back(uni::decode(s, i, &n));
    i += n;
  }
  return out;
}

void append(std::string& out, char32_t c) {
  if (c >= kRawByteBase) {
    out.push_back(static_cast<char>(c - kRawByteBase));
  } else {
    uni::append_utf8(out, c);
  }
}

std::string encode(const U32& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append(out, c);
  return out;
}

size_t length(std::string_view s) {
  bool ascii = true;
  for (char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  return ascii ? s.size() : decode(s).size();
}

bool is_space(char32_t c) {
  if (c <= 0x20) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

namespace {
utf8proc_category_t category(char32_t c) {
  if (!valid_cp(c)) return UTF8PROC_CATEGORY_CN;
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}
}  // namespace

bool is_alpha(char32_t c) {
  auto k = category(c);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
         k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}
bool is_digit(char32_t c) {
  return category(c) == UTF8PROC_CATEGORY_ND;
}
bool is_upper(char32_t c) {
  return valid_cp(c) && utf8proc_isupper(static_cast<utf8proc_int32_t>(c));
}
bool is_lower(char32_t c) {
  return valid_cp(c) && utf8proc_islower(static_cast<utf8proc_int32_t>(c));
}
char32_t to_upper(char32_t c) {
  return valid_cp(c) ? static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c))) : c;
}
char32_t to_lower(char32_t c) {
  return valid_cp(c) ? static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))) : c;
}
char32_t to_title(char32_t c) {
  return valid_cp(c) ? static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(c))) : c;
}

std::string upper(std::string_view s) {
  U32 u = decode(s);
  for (auto& c : u) c = to_upper(c);
  return encode(u);
}

std::string lower(std::string_view s) {
  U32 u = decode(s);
  for (auto& c : u) c = to_lower(c);
  return encode(u);
}

std::string title(std::string_view s) {
  // Python: a cased letter after an uncased character starts a word.
  U32 u = decode(s);
  bool prev_cased = false;
  for (auto& c : u) {
    const bool cased = is_upper(c) || is_lower(c) || category(c) == UTF8PROC_CATEGORY_LT;
    c = prev_cased ? to_lower(c) : to_title(c);
    prev_cased = cased;
  }
  return encode(u);
}

std::string capitalize(std::string_view s) {
  U32 u = decode(s);
  for (size_t i = 0; i < u.size(); ++i) u[i] = i == 0 ? to_title(u[i]) : to_lower(u[i]);
  return encode(u);
}

std::string strip(std::string_view s, const std::string* chars, bool left, bool right) {
  U32 u = decode(s);
  U32 set = chars ? decode(*chars) : U32();
  auto drop = [&](char32_t c) { return chars ? set.find(c) != U32::npos : is_space(c); };
  size_t b = 0, e = u.size();
  if (left) {
    while (b < e && drop(u[b])) ++b;
  }
  if (right) {
    while (e > b && drop(u[e - 1])) --e;
  }
  return encode(u.substr(b, e - b));
}

std::vector<std::string> split(std::string_view s, const std::string* sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      size_t f = s.find(*sep, pos);
      if (f == std::string_view::npos) break;
      out.emplace_back(s.substr(pos, f - pos));
      pos = f + sep->size();
    }
    out.emplace_back(s.substr(pos));
    return out;
  }
  U32 u = decode(s);
  size_t i = 0;
  while (i < u.size()) {
    while (i < u.size() && is_space(u[i])) ++i;
    if (i == u.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      size_t e = u.size();
      while (e > i && is_space(u[e - 1])) --e;
      out.push_back(encode(u.substr(i, e - i)));
      break;
    }
    size_t j = i;
    while (j < u.size() && !is_space(u[j])) ++j;
    out.push_back(encode(u.substr(i, j - i)));
    i = j;
  }
  return out;
}

std::vector<std::string> rsplit(std::string_view s, const std::string* sep, int64_t maxsplit) {
  if (maxsplit < 0) return split(s, sep, maxsplit);
  std::vector<std::string> rev;
  if (sep) {
    size_t end = s.size();
    while (static_cast<int64_t>(rev.size()) < maxsplit) {
      if (end < sep->size()) break;
      size_t f = s.rfind(*sep, end - sep->size());
      if (f == std::string_view::npos) break;
      rev.emplace_back(s.substr(f + sep->size(), end - f - sep->size()));
      end = f;
    }
    rev.emplace_back(s.substr(0, end));
  } else {
    U32 u = decode(s);
    size_t e = u.size();
    while (e > 0) {
      while (e > 0 && is_space(u[e - 1])) --e;
      if (e == 0) break;
      if (static_cast<int64_t>(rev.size()) == maxsplit) {
        size_t b = 0;
        while (b < e && is_space(u[b])) ++b;
        rev.push_back(encode(u.substr(b, e - b)));
        break;
      }
      size_t b = e;
      while (b > 0 && !is_space(u[b - 1])) --b;
      rev.push_back(encode(u.substr(b, e - b)));
      e = b;
    }
  }
  return {rev.rbegin(), rev.rend()};
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> out;
  U32 u = decode(s);
  size_t start = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    char32_t c = u[i];
    bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
               c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    size_t end = i;
    if (c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') ++i;
    out.push_back(encode(u.substr(start, (keepends ? i + 1 : end) - start)));
    start = i + 1;
  }
  if (start < u.size()) out.push_back(encode(u.substr(start)));
  return out;
}

std::string replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts `repl` between every character and at both ends.
    U32 u = decode(s);
    int64_t n = 0;
    for (size_t i = 0; i <= u.size(); ++i) {
      if (count < 0 || n < count) {
        out.append(repl);
        ++n;
      }
      if (i < u.size()) append(out, u[i]);
    }
    return out;
  }
  size_t pos = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    size_t f = s.find(old, pos);
    if (f == std::string_view::npos) break;
    out.append(s.substr(pos, f - pos));
    out.append(repl);
    pos = f + old.size();
    ++n;
  }
  out.append(s.substr(pos));
  return out;
}

size_t count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return length(s) + 1;
  size_t n = 0, pos = 0;
  while ((pos = s.find(sub, pos)) != std::string_view::npos) {
    ++n;
    pos += sub.size();
  }
  return n;
}

}  // namespace ia::tok::jinja::py
