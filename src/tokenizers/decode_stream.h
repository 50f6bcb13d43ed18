#pragma once
// Incremental detokenization: text handed out token by token whose
// concatenation is exactly Tokenizer::decode(all ids), with each token decoded
// a bounded number of times (work per token independent of the output length).
//
// Decoders look at their neighbours (Metaspace and WordPiece treat the first
// token apart, ByteLevel and ByteFallback join bytes across tokens, Strip and
// BPEDecoder act at the ends of the text, CTC collapses repeats), so a new
// token is decoded together with the tokens of the last emitted piece: the
// text it adds is decode(context + new) minus decode(context). Tokens whose
// text is not final yet (a partial UTF-8 character, a run of byte-fallback
// <0xNN> tokens that a later byte may still turn into U+FFFDs) are held until
// a later token completes them, or until flush().
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace ia::tok {

class DecodeStream {
 public:
  // `tokenizer` must outlive the stream.
  DecodeStream(const Tokenizer& tokenizer, bool skip_special_tokens)
      : tok_(&tokenizer), skip_special_(skip_special_tokens) {}

  // The text that became final with `id` (often empty while bytes are pending).
  std::string step(int32_t id);
  // The rest of the text at the end of the ids (decoded as decode() would,
  // incomplete characters included); the stream starts over afterwards.
  std::string flush();
  // What the held tokens decode to right now (may end in an incomplete
  // character); not final, nothing is consumed.
  std::string_view pending() const { return pending_; }

 private:
  bool skipped(int32_t id) const;  // whether decode() leaves `id` out

  const Tokenizer* tok_;
  bool skip_special_;
  // The tokens of the context (already emitted), then the held ones.
  std::vector<int32_t> window_;
  size_t context_ = 0;        // window_[0, context_) is the context
  std::string prefix_;        // decode(window_[0, context_))
  std::string pending_;       // decode(window_) past prefix_, as of the last step
  bool in_byte_run_ = false;  // the last token the decoder sees is a byte-fallback <0xNN>
};

}  // namespace ia::tok
