#pragma once
// Whisper's languages as its tokenizer names them (transformers' tokenization_whisper.LANGUAGES and
// TO_LANGUAGE_CODE): the code of each <|xx|> token and the English names and aliases users give.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ia {

// The language code for "en", "English", "<|en|>", or an alias ("castilian", "mandarin", ...);
// nullopt when Whisper has no such language. Case-insensitive.
std::optional<std::string> whisper_language_code(std::string_view language);

// Whether `code` is one of Whisper's language codes ("en", "yue", ...).
bool is_whisper_language_code(std::string_view code);

// Every language code, in the order of the tokenizer's language tokens.
std::vector<std::string_view> whisper_language_codes();

}  // namespace ia
