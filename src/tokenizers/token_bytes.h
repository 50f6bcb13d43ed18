#pragma once
// The bytes each token adds to a text when it stands in the middle of it, for checking
// candidate tokens against a grammar byte by byte (constrained decoding). Decoders look at
// their neighbours (Metaspace drops a leading space only at the start, WordPiece joins "##"
// pieces), so a token is decoded after an anchor token and the anchor's text is taken off;
// byte-level and byte-fallback tokens that are part of a UTF-8 character give their raw bytes.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace ia::tok {

// Per id in [0, vocab_size()): its bytes, or nullopt for special tokens and ids without a token.
std::vector<std::optional<std::string>> token_bytes(const Tokenizer& tokenizer);

}  // namespace ia::tok
