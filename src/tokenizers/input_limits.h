#pragma once
// Limits on what a model folder's tokenizer files may hold. Real tokenizers
// stay far below each (the largest vocabularies have ~260k entries, the
// longest chat templates ~20 KB); past them a file is refused as Corrupt,
// naming the file and the limit, before it can exhaust memory or time.
#include <cstddef>

namespace ia::tok {

inline constexpr size_t kMaxTokenizerJsonBytes = 512u << 20;   // tokenizer.json
inline constexpr size_t kMaxTokenizerConfigBytes = 64u << 20;  // tokenizer_config.json, vocab.json, ...
inline constexpr size_t kMaxVocabEntries = 4u << 20;
inline constexpr size_t kMaxMerges = 4u << 20;
inline constexpr size_t kMaxAddedTokens = 1u << 20;
inline constexpr size_t kMaxChatTemplateBytes = 1u << 20;
// Sequence normalizers / pre-tokenizers / decoders nested deeper than this are refused.
inline constexpr int kMaxSequenceNesting = 16;

}  // namespace ia::tok
