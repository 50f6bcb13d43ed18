#include "tokenizers/unicode.h"

#include <utf8proc.h>

#include <algorithm>

namespace ia::tok::uni {

char32_t decode(std::string_view s, size_t i, size_t* len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *len = 1;
    return b0;
  }
  // Callers only pass sanitized strings, but bound every read anyway so a
  // truncated sequence can never read past the end.
  auto cont = [&](size_t k) -> char32_t { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) & 0x3F : 0; };
  if (b0 < 0xE0) {
    *len = std::min<size_t>(2, s.size() - i);
    return ((b0 & 0x1F) << 6) | cont(1);
  }
  if (b0 < 0xF0) {
    *len = std::min<size_t>(3, s.size() - i);
    return ((b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2);
  }
  *len = std::min<size_t>(4, s.size() - i);
  return ((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
}

size_t utf8_len(char32_t c) {
  return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

size_t char_count(std::string_view s) {
  size_t n = 0;
  for (char ch : s) n += !is_utf8_continuation(ch);
  return n;
}

namespace {
// Length of the valid UTF-8 sequence at s[i], or 0 plus `*bad` = the length of
// the maximal invalid subpart (what one U+FFFD replaces, per Unicode 3.9).
size_t valid_seq_len(std::string_view s, size_t i, size_t* bad) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 == 0xE0) {
    need = 2, lo = 0xA0;
  } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
    need = 2;
  } else if (b0 == 0xED) {
    need = 2, hi = 0x9F;
  } else if (b0 == 0xF0) {
    need = 3, lo = 0x90;
  } else if (b0 >= 0xF1 && b0 <= 0xF3) {
    need = 3;
  } else if (b0 == 0xF4) {
    need = 3, hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) {
      *bad = k;
      return 0;
    }
    const auto b = static_cast<unsigned char>(s[i + k]);
    const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) {
      *bad = k;
      return 0;
    }
  }
  return need + 1;
}
}  // namespace

size_t valid_seq_len(std::string_view s, size_t i) {
  size_t bad = 0;
  return valid_seq_len(s, i, &bad);
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t bad = 0;
    const size_t n = valid_seq_len(s, i, &bad);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    size_t bad = 0;
    const size_t n = valid_seq_len(s, i, &bad);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      i += bad;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

namespace {
utf8proc_category_t cat(char32_t c) {
  if (c > 0x10FFFF) return UTF8PROC_CATEGORY_CN;
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}
}  // namespace

bool is_whitespace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  switch (c) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_punctuation(char32_t c) {
  const auto k = cat(c);
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

bool is_other(char32_t c) {
  const auto k = cat(c);
  return k == UTF8PROC_CATEGORY_CN || k >= UTF8PROC_CATEGORY_CC;
}

bool is_mark_nonspacing(char32_t c) {
  return c >= 0x300 && cat(c) == UTF8PROC_CATEGORY_MN;
}

bool is_numeric(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  const auto k = cat(c);
  return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

bool is_alphabetic(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  const auto k = cat(c);
  if (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) return true;
  if (k == UTF8PROC_CATEGORY_NL) return true;
  // Other_Alphabetic outside the letter categories: most are combining marks,
  // a few are circled/parenthesized letters (So).
  if (k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC) return true;
  return (c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
         (c >= 0x1F170 && c <= 0x1F189);
}

bool is_word_char(char32_t c) {
  if (c < 0x80) {
    return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '_';
  }
  if (c == 0x200C || c == 0x200D) return true;  // Join_Control
  const auto k = cat(c);
  if (k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_ME) return true;
  if (k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_PC) return true;
  return is_alphabetic(c);
}

bool is_bert_whitespace(char32_t c) {
  return c == '\t' || c == '\n' || c == '\r' || is_whitespace(c);
}

bool is_bert_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return is_other(c);
}

bool is_bert_punctuation(char32_t c) {
  if (c < 0x80) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  }
  return is_punctuation(c);
}

bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

size_t grapheme_end(std::string_view s, size_t pos) {
  if (pos >= s.size()) return s.size();
  size_t len = 1;
  char32_t prev = decode(s, pos, &len);
  size_t i = pos + len;
  utf8proc_int32_t state = 0;
  while (i < s.size()) {
    const char32_t c = decode(s, i, &len);
    if (utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(prev), static_cast<utf8proc_int32_t>(c),
                                         &state)) {
      break;
    }
    prev = c;
    i += len;
  }
  return i;
}

int to_lower_full(char32_t c, char32_t out[3]) {
  if (c < 0x80) {
    out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    return 1;
  }
  // The one unconditional multi-char lowercase mapping (SpecialCasing.txt).
  if (c == 0x130) {
    out[0] = 'i';
    out[1] = 0x307;
    return 2;
  }
  out[0] = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
  return 1;
}

namespace {

int ccc(char32_t c) {
  if (c < 0x300) return 0;
  return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

utf8proc_option_t decompose_opts(NormForm f) {
  int o = UTF8PROC_DECOMPOSE | UTF8PROC_STABLE;
  if (f == NormForm::NFKC || f == NormForm::NFKD) o |= UTF8PROC_COMPAT;
  return static_cast<utf8proc_option_t>(o);
}

bool composes(NormForm f) {
  return f == NormForm::NFC || f == NormForm::NFKC;
}

// Normalizes the code points in[0..n) into `buf` (resized). Chunks handed in
// start at a starter and never interact with neighbours, so normalizing each
// alone equals normalizing the whole string.
void normalize_chunk(const char32_t* in, size_t n, NormForm f, std::vector<utf8proc_int32_t>& buf) {
  buf.clear();
  const auto opts = decompose_opts(f);
  int boundclass = 0;
  utf8proc_int32_t tmp[32];
  for (size_t i = 0; i < n; ++i) {
    const auto k = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(in[i]), tmp, 32, opts, &boundclass);
    if (k <= 0 || k > 32) {
      buf.push_back(static_cast<utf8proc_int32_t>(in[i]));
    } else {
      buf.insert(buf.end(), tmp, tmp + k);
    }
  }
  // Canonical ordering: stable sort of each run of non-starters by class.
  for (size_t i = 0; i < buf.size();) {
    if (ccc(static_cast<char32_t>(buf[i])) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < buf.size() && ccc(static_cast<char32_t>(buf[j])) != 0) ++j;
    std::stable_sort(buf.begin() + static_cast<std::ptrdiff_t>(i), buf.begin() + static_cast<std::ptrdiff_t>(j),
                     [](utf8proc_int32_t a, utf8proc_int32_t b) {
                       return ccc(static_cast<char32_t>(a)) < ccc(static_cast<char32_t>(b));
                     });
    i = j;
  }
  if (composes(f) && !buf.empty()) {
    const auto len = utf8proc_normalize_utf32(buf.data(), static_cast<utf8proc_ssize_t>(buf.size()),
                                              static_cast<utf8proc_option_t>(UTF8PROC_COMPOSE | UTF8PROC_STABLE));
    if (len >= 0) buf.resize(static_cast<size_t>(len));
  }
}

// Whether starter `b` may compose with the starter `a` right before it
// (Hangul LV+T, some Indic vowel signs, halfwidth kana voicing marks).
bool joins_previous(char32_t a, char32_t b, NormForm f, std::vector<utf8proc_int32_t>& scratch,
                    std::vector<utf8proc_int32_t>& sep) {
  if (!composes(f) || b < 0x300) return false;
  if ((b >= 0x4E00 && b <= 0x9FFF) || (b >= 0xAC00 && b <= 0xD7A3)) return false;
  const char32_t pair[2] = {a, b};
  normalize_chunk(pair, 2, f, scratch);
  normalize_chunk(pair, 1, f, sep);
  const size_t first = sep.size();
  normalize_chunk(pair + 1, 1, f, sep);
  return scratch.size() != first + sep.size();
}

}  // namespace

bool normalize_with_changes(std::string_view s, NormForm form, std::vector<std::pair<char32_t, int>>& out) {
  out.clear();
  bool ascii = true;
  for (char ch : s) ascii = ascii && static_cast<unsigned char>(ch) < 0x80;
  if (ascii) return false;  // ASCII is invariant under all four forms

  std::vector<char32_t> cps;
  cps.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    cps.push_back(decode(s, i, &len));
    i += len;
  }
  std::vector<utf8proc_int32_t> buf, scratch, sep;
  bool changed = false;
  size_t start = 0;
  auto flush = [&](size_t end) {
    const size_t n = end - start;
    normalize_chunk(cps.data() + start, n, form, buf);
    const size_t m = buf.size();
    bool same = m == n;
    for (size_t k = 0; same && k < n; ++k) same = static_cast<char32_t>(buf[k]) == cps[start + k];
    if (same || m == 0) {
      for (size_t k = start; k < end; ++k) out.emplace_back(cps[k], 0);
    } else {
      changed = true;
      // Positional mapping: output char k replaces input char k; extra output
      // chars are insertions, missing ones are removed after the last output.
      for (size_t k = 0; k < m; ++k) {
        int change = k < n ? 0 : 1;
        if (m < n && k + 1 == m) change = -static_cast<int>(n - m);
        out.emplace_back(static_cast<char32_t>(buf[k]), change);
      }
    }
    start = end;
  };
  for (size_t i = 1; i < cps.size(); ++i) {
    const bool starter = ccc(cps[i]) == 0;
    if (starter && !(ccc(cps[i - 1]) == 0 && joins_previous(cps[i - 1], cps[i], form, scratch, sep))) flush(i);
  }
  if (!cps.empty()) flush(cps.size());
  if (!changed) out.clear();
  return changed;
}

}  // namespace ia::tok::uni
