#pragma once
// Truncation and padding as HF `tokenizers` applies them: truncation before
// the post-processor (leaving room for its special tokens), padding after it.
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizers/tokenizer.h"

namespace ia::tok {

std::optional<TruncationParams> parse_truncation(const nlohmann::json& j);  // null -> nullopt
std::optional<PaddingParams> parse_padding(const nlohmann::json& j);

// Cuts `encs` (one or two sequences, before special tokens) to max_length in
// total (HF truncate_encodings; overflow is dropped). Throws InvalidArgument
// where HF errors (OnlySecond without a pair, a sequence too short to cut).
void truncate_encodings(std::vector<Encoding>& encs, const TruncationParams& p, size_t max_length);
// Pads every encoding to the batch's longest (or the fixed length), rounded
// up to pad_to_multiple_of; never shortens.
void pad_encodings(std::vector<Encoding>& encs, const PaddingParams& p);

}  // namespace ia::tok
