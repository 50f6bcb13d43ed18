// libFuzzer target: input = tokenizer.json bytes, a 0xFF separator, then text.
// Loading must either succeed or throw ia::Error; encode/decode must never crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "tokenizers/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t sep = all.find('\xFF');
  const std::string json(all.substr(0, sep));
  const std::string text(sep == std::string_view::npos ? std::string_view{} : all.substr(sep + 1));
  std::shared_ptr<ia::tok::Tokenizer> tok;
  try {
    tok = ia::tok::Tokenizer::from_json_string(json);
  } catch (const ia::Error&) {
    return 0;
  }
  try {
    const auto enc = tok->encode(text, true);
    (void)tok->decode(enc.ids, true);
    (void)tok->decode(enc.ids, false);
    const auto pair = tok->encode_pair(text, text.substr(0, text.size() / 2), false);
    (void)tok->decode(pair.ids, false);
    (void)tok->vocab_size();
    (void)tok->pad_token_id();
  } catch (const ia::Error&) {
    // e.g. a WordPiece vocabulary without its unk token: a clear error is fine.
  }
  return 0;
}
