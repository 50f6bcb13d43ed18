#pragma once
// Multibase: a one-character prefix names the text encoding of the bytes that
// follow. CIDv1 strings carry it; CIDv0 strings are bare base58btc.
#include <string>
#include <string_view>

#include "ipfs/bytes.h"

namespace ia::ipfs {

enum class Multibase {
  Base58Btc,  // 'z'
  Base32,     // 'b', RFC 4648 lower case, no padding
  Base36,     // 'k', lower case
  Base16,     // 'f', lower case
  Base64,     // 'm', RFC 4648, no padding
  Base64Url,  // 'u', RFC 4648 URL-safe, no padding
};

// "base58btc", "base32", "base36", "base16", "base64", "base64url".
std::string_view multibase_name(Multibase base);
// Accepts the names above; throws ia::Error(InvalidArgument) otherwise.
Multibase multibase_from_name(std::string_view name);
char multibase_prefix(Multibase base);

// Encodes without the prefix.
std::string encode_base(Multibase base, BytesView bytes);
// Decodes text without the prefix; throws ia::Error(InvalidArgument) on a bad character or length.
Bytes decode_base(Multibase base, std::string_view text);

// With the prefix.
std::string multibase_encode(Multibase base, BytesView bytes);
// Reads the prefix (upper-case variants of base32/base36/base16 are accepted too).
Bytes multibase_decode(std::string_view text, Multibase* base_out = nullptr);

}  // namespace ia::ipfs
