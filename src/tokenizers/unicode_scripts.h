#pragma once
// Unicode Script property of a code point, as the small integer the
// UnicodeScripts pre-tokenizer compares. Looked up through Oniguruma's
// property tables (the regex engine we already ship), cached per BMP char.
#include <cstdint>

namespace ia::tok::uni {

// 0 = Unknown (no listed script); equal values mean the same script.
uint16_t script_of(char32_t c);

}  // namespace ia::tok::uni
