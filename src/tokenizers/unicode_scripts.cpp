#include "tokenizers/unicode_scripts.h"

#include <oniguruma.h>

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

namespace ia::tok::uni {

namespace {

// Unicode script names (Scripts.txt long names); one this Oniguruma does not
// know is skipped, and its chars then read as Unknown.
constexpr const char* kScripts[] = {
    "Adlam",
    "Ahom",
    "Anatolian_Hieroglyphs",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Bassa_Vah",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Canadian_Aboriginal",
    "Carian",
    "Caucasian_Albanian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cypro_Minoan",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dives_Akuru",
    "Dogra",
    "Duployan",
    "Egyptian_Hieroglyphs",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gunjala_Gondi",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanifi_Rohingya",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Imperial_Aramaic",
    "Inherited",
    "Inscriptional_Pahlavi",
    "Inscriptional_Parthian",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kawi",
    "Kayah_Li",
    "Kharoshthi",
    "Khitan_Small_Script",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Linear_A",
    "Linear_B",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Masaram_Gondi",
    "Medefaidrin",
    "Meetei_Mayek",
    "Mende_Kikakui",
    "Meroitic_Cursive",
    "Meroitic_Hieroglyphs",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nag_Mundari",
    "Nandinagari",
    "New_Tai_Lue",
    "Newa",
    "Nko",
    "Nushu",
    "Nyiakeng_Puachue_Hmong",
    "Ogham",
    "Ol_Chiki",
    "Old_Hungarian",
    "Old_Italic",
    "Old_North_Arabian",
    "Old_Permic",
    "Old_Persian",
    "Old_Sogdian",
    "Old_South_Arabian",
    "Old_Turkic",
    "Old_Uyghur",
    "Oriya",
    "Osage",
    "Osmanya",
    "Pahawh_Hmong",
    "Palmyrene",
    "Pau_Cin_Hau",
    "Phags_Pa",
    "Phoenician",
    "Psalter_Pahlavi",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "SignWriting",
    "Sinhala",
    "Sogdian",
    "Sora_Sompeng",
    "Soyombo",
    "Sundanese",
    "Syloti_Nagri",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Tai_Le",
    "Tai_Tham",
    "Tai_Viet",
    "Takri",
    "Tamil",
    "Tangsa",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Toto",
    "Ugaritic",
    "Vai",
    "Vithkuqi",
    "Wancho",
    "Warang_Citi",
    "Yezidi",
    "Yi",
    "Zanabazar_Square",
};

struct ScriptTable {
  std::vector<std::pair<OnigCtype, uint16_t>> ctypes;  // (Oniguruma ctype, our script number)
  ScriptTable() {
    OnigEncoding enc = ONIG_ENCODING_UTF8;
    uint16_t n = 0;
    for (const char* name : kScripts) {
      ++n;
      auto* p = reinterpret_cast<OnigUChar*>(const_cast<char*>(name));
      const int ctype = ONIGENC_PROPERTY_NAME_TO_CTYPE(enc, p, p + std::strlen(name));
      if (ctype >= 0) ctypes.emplace_back(static_cast<OnigCtype>(ctype), n);
    }
  }
  uint16_t lookup(char32_t c) const {
    OnigEncoding enc = ONIG_ENCODING_UTF8;
    for (const auto& [ctype, n] : ctypes) {
      if (ONIGENC_IS_CODE_CTYPE(enc, static_cast<OnigCodePoint>(c), ctype)) return n;
    }
    return 0;
  }
};

}  // namespace

uint16_t script_of(char32_t c) {
  static const ScriptTable table;
  // BMP cache: 0xFFFF marks "not computed yet"; racing writers store the same value.
  static std::unique_ptr<std::atomic<uint16_t>[]> cache = [] {
    auto p = std::make_unique<std::atomic<uint16_t>[]>(0x10000);
    for (size_t i = 0; i < 0x10000; ++i) p[i].store(0xFFFF, std::memory_order_relaxed);
    return p;
  }();
  if (c >= 0x10000) return table.lookup(c);
  uint16_t v = cache[c].load(std::memory_order_relaxed);
  if (v == 0xFFFF) {
    v = table.lookup(c);
    cache[c].store(v, std::memory_order_relaxed);
  }
  return v;
}

}  // namespace ia::tok::uni
