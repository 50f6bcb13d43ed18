#pragma once
// RFC 4648 standard base64 with padding: what tokenizer.json's precompiled charsmaps, data URLs
// (data:image/png;base64,...), OpenAI's base64 embeddings and Python's base64 module use.
#include <optional>
#include <string>
#include <string_view>

namespace ia {

// Bytes -> text, padded to a multiple of 4.
std::string base64_encode(std::string_view bytes);
// Text -> bytes; nullopt unless the text is whole groups of 4 from the standard alphabet with
// padding only at the end.
std::optional<std::string> base64_decode(std::string_view s);

}  // namespace ia
