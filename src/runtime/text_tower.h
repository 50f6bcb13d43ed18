#pragma once
// The text side the two-tower endpoints share (CLIP's ImageTextEndpoint, CLAP's AudioTextEndpoint,
// X-CLIP's VideoTextEndpoint): the folder's tokenizer without padding or truncation, texts cut to
// the model's positions, and token-id lists checked before they become an encoder step.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace ia {

// tokenizer.json of `dir`, with the padding and truncation it may configure turned off (each
// text is cut to the model's positions by tokenize_texts instead).
std::shared_ptr<tok::Tokenizer> load_text_tower_tokenizer(const std::string& dir);

// Token ids as the tokenizer gives them (special tokens added), each cut to `max_tokens`.
std::vector<tok::Encoding> tokenize_texts(const tok::Tokenizer& tokenizer, const std::vector<std::string>& texts,
                                          int64_t max_tokens);

// Spans over `ids` for an encoder step. InvalidArgument for no texts, a text of no tokens, or one
// of more than `max_tokens`.
std::vector<std::span<const int32_t>> text_token_spans(const std::vector<std::vector<int32_t>>& ids,
                                                       int64_t max_tokens);

}  // namespace ia
