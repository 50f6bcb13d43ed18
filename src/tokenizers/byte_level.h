#pragma once
// GPT-2 byte-level helpers: the byte <-> printable char table and the
// ByteLevel pre-tokenizer and normalizer (the decoder lives in decoders.cpp).
#include <array>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

namespace ia::tok {

class PreTokenizer;
class Normalizer;
class NormalizedString;

// byte -> the printable code point GPT-2 uses for it.
const std::array<char32_t, 256>& bytes_to_unicode();
// Inverse of bytes_to_unicode (nullopt for chars outside the table).
std::optional<unsigned char> unicode_to_byte(char32_t c);

std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(const nlohmann::json& j);
// The ByteLevel normalizer (HF normalizers::ByteLevel): the same byte map, no split.
std::unique_ptr<Normalizer> make_byte_level_normalizer();
// Rewrites every byte of n as its printable char, keeping alignments.
void byte_level_map(NormalizedString& n);

}  // namespace ia::tok
