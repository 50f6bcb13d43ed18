#pragma once
// Unicode helpers for the tokenizer pipeline: UTF-8 coding, the character
// classes HF `tokenizers` (Rust) relies on, and normalization forms that
// report per-character changes so alignments can be kept.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ia::tok::uni {

// A UTF-8 continuation byte (10xxxxxx): it never starts a code point, so
// skipping these finds the next (or, going back, the current) character start.
constexpr bool is_utf8_continuation(unsigned char b) {
  return (b & 0xC0) == 0x80;
}

// Decodes one code point at s[i] (s must be valid UTF-8, which every string in
// the pipeline is after sanitize_utf8) and returns it; `len` gets its byte size.
char32_t decode(std::string_view s, size_t i, size_t* len);
// Appends the UTF-8 encoding of c.
void append_utf8(std::string& out, char32_t c);
size_t utf8_len(char32_t c);
// Number of code points in a valid UTF-8 string.
size_t char_count(std::string_view s);

// Replaces every invalid UTF-8 sequence by U+FFFD (one per maximal invalid
// subpart, as Python/Rust lossy decoding does). Returns s unchanged if valid.
std::string sanitize_utf8(std::string_view s);
bool is_valid_utf8(std::string_view s);
// Byte length of the well-formed UTF-8 sequence starting at s[i], or 0 when
// the bytes there are not valid UTF-8 (overlong, surrogate, > U+10FFFF, ...).
size_t valid_seq_len(std::string_view s, size_t i);

// Rust `char::is_whitespace` (Unicode White_Space).
bool is_whitespace(char32_t c);
// Unicode general category helpers (from utf8proc).
bool is_punctuation(char32_t c);      // P*
bool is_other(char32_t c);            // C* (Cc, Cf, Cs, Co, Cn)
bool is_mark_nonspacing(char32_t c);  // Mn
bool is_numeric(char32_t c);          // Rust char::is_numeric: Nd | Nl | No
bool is_alphabetic(char32_t c);       // Unicode Alphabetic (approximation via categories)
// Regex `\w` as the Rust regex crate defines it (Unicode-aware).
bool is_word_char(char32_t c);
// BERT helpers (HF bert normalizer / pre-tokenizer definitions).
bool is_bert_whitespace(char32_t c);
bool is_bert_control(char32_t c);
bool is_bert_punctuation(char32_t c);
bool is_chinese_char(char32_t c);

// Rust `char::to_lowercase`: full mapping (may produce more than one char).
// Writes up to 3 chars into out, returns how many.
int to_lower_full(char32_t c, char32_t out[3]);

// End (byte index) of the extended grapheme cluster starting at s[pos]
// (UAX #29, as Rust's unicode-segmentation `graphemes(true)`).
size_t grapheme_end(std::string_view s, size_t pos);

enum class NormForm { NFC, NFD, NFKC, NFKD };

// Normalizes `s` and reports, for every output char, the change relative to
// the input in the encoding NormalizedString::transform expects
// (0 replace, +1 inserted, -n replaces and removes n following input chars).
// Returns false (and leaves out empty) when s is already normalized.
bool normalize_with_changes(std::string_view s, NormForm form, std::vector<std::pair<char32_t, int>>& out);

}  // namespace ia::tok::uni
