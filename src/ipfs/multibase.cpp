#include "ipfs/multibase.h"

#include <array>
#include <vector>

#include "core/error.h"

namespace ia::ipfs {

namespace {

constexpr std::string_view kBase58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr std::string_view kBase36 = "0123456789abcdefghijklmnopqrstuvwxyz";
constexpr std::string_view kBase32 = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::string_view kBase16 = "0123456789abcdef";
constexpr std::string_view kBase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kBase64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Texts longer than this are refused before the quadratic base-N conversions
// run: no CID comes near it, and it keeps hostile input cheap.
constexpr size_t kMaxBigBaseText = 4096;

std::array<int, 256> reverse_table(std::string_view alphabet, bool fold_case) {
  std::array<int, 256> t;
  t.fill(-1);
  for (size_t i = 0; i < alphabet.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(alphabet[i]);
    t[c] = static_cast<int>(i);
    if (fold_case && c >= 'a' && c <= 'z') t[c - 'a' + 'A'] = static_cast<int>(i);
  }
  return t;
}

// Big-number conversion for the bases that are not a power of two (58, 36):
// leading zero bytes become leading zero digits.
std::string encode_big(std::string_view alphabet, BytesView bytes) {
  const uint32_t base = static_cast<uint32_t>(alphabet.size());
  size_t zeros = 0;
  while (zeros < bytes.size() && bytes[zeros] == 0) ++zeros;
  std::vector<uint8_t> digits;  // little-endian in `base`
  for (size_t i = zeros; i < bytes.size(); ++i) {
    uint32_t carry = static_cast<uint8_t>(bytes[i]);
    for (auto& d : digits) {
      carry += static_cast<uint32_t>(d) << 8;
      d = static_cast<uint8_t>(carry % base);
      carry /= base;
    }
    while (carry) {
      digits.push_back(static_cast<uint8_t>(carry % base));
      carry /= base;
    }
  }
  std::string out(zeros, alphabet[0]);
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) out += alphabet[*it];
  return out;
}

Bytes decode_big(std::string_view alphabet, bool fold_case, std::string_view text, const char* name) {
  if (text.size() > kMaxBigBaseText)
    fail(ErrorKind::InvalidArgument, "{} text too long ({} characters)", name, text.size());
  const auto table = reverse_table(alphabet, fold_case);
  const uint32_t base = static_cast<uint32_t>(alphabet.size());
  size_t zeros = 0;
  while (zeros < text.size() && text[zeros] == alphabet[0]) ++zeros;
  std::vector<uint8_t> bytes;  // little-endian base 256
  for (size_t i = zeros; i < text.size(); ++i) {
    int v = table[static_cast<unsigned char>(text[i])];
    if (v < 0) fail(ErrorKind::InvalidArgument, "invalid {} character '{}'", name, text[i]);
    uint32_t carry = static_cast<uint32_t>(v);
    for (auto& b : bytes) {
      carry += static_cast<uint32_t>(b) * base;
      b = static_cast<uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    while (carry) {
      bytes.push_back(static_cast<uint8_t>(carry & 0xff));
      carry >>= 8;
    }
  }
  Bytes out(zeros, '\0');
  for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) out += static_cast<char>(*it);
  return out;
}

// RFC 4648 bit packing for the power-of-two bases (16, 32, 64), no padding.
std::string encode_bits(std::string_view alphabet, int bits, BytesView bytes) {
  std::string out;
  out.reserve(bytes.size() * 8 / bits + 1);
  uint32_t acc = 0;
  int have = 0;
  const uint32_t mask = (1u << bits) - 1;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    have += 8;
    while (have >= bits) {
      have -= bits;
      out += alphabet[(acc >> have) & mask];
    }
  }
  if (have > 0) out += alphabet[(acc << (bits - have)) & mask];
  return out;
}

Bytes decode_bits(std::string_view alphabet, bool fold_case, int bits, std::string_view text, const char* name) {
  // Trailing '=' padding is tolerated on input.
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  const auto table = reverse_table(alphabet, fold_case);
  Bytes out;
  out.reserve(text.size() * bits / 8);
  uint32_t acc = 0;
  int have = 0;
  for (char ch : text) {
    int v = table[static_cast<unsigned char>(ch)];
    if (v < 0) fail(ErrorKind::InvalidArgument, "invalid {} character '{}'", name, ch);
    acc = (acc << bits) | static_cast<uint32_t>(v);
    have += bits;
    if (have >= 8) {
      have -= 8;
      out += static_cast<char>((acc >> have) & 0xff);
    }
    acc &= (1u << have) - 1;
  }
  // Leftover bits must be padding zeros and fewer than one symbol's worth.
  if (have >= bits || acc != 0) fail(ErrorKind::InvalidArgument, "invalid {} length or trailing bits", name);
  return out;
}

}  // namespace

std::string_view multibase_name(Multibase base) {
  switch (base) {
    case Multibase::Base58Btc: return "base58btc";
    case Multibase::Base32: return "base32";
    case Multibase::Base36: return "base36";
    case Multibase::Base16: return "base16";
    case Multibase::Base64: return "base64";
    case Multibase::Base64Url: return "base64url";
  }
  return "base32";
}

Multibase multibase_from_name(std::string_view name) {
  for (Multibase b : {Multibase::Base58Btc, Multibase::Base32, Multibase::Base36, Multibase::Base16, Multibase::Base64,
                      Multibase::Base64Url}) {
    if (multibase_name(b) == name) return b;
  }
  fail(ErrorKind::InvalidArgument,
       "unknown multibase \"{}\" (expected base58btc, base32, base36, base16, base64 or base64url)", name);
}

char multibase_prefix(Multibase base) {
  switch (base) {
    case Multibase::Base58Btc: return 'z';
    case Multibase::Base32: return 'b';
    case Multibase::Base36: return 'k';
    case Multibase::Base16: return 'f';
    case Multibase::Base64: return 'm';
    case Multibase::Base64Url: return 'u';
  }
  return 'b';
}

std::string encode_base(Multibase base, BytesView bytes) {
  switch (base) {
    case Multibase::Base58Btc: return encode_big(kBase58, bytes);
    case Multibase::Base36: return encode_big(kBase36, bytes);
    case Multibase::Base32: return encode_bits(kBase32, 5, bytes);
    case Multibase::Base16: return encode_bits(kBase16, 4, bytes);
    case Multibase::Base64: return encode_bits(kBase64, 6, bytes);
    case Multibase::Base64Url: return encode_bits(kBase64Url, 6, bytes);
  }
  return {};
}

Bytes decode_base(Multibase base, std::string_view text) {
  switch (base) {
    case Multibase::Base58Btc: return decode_big(kBase58, false, text, "base58btc");
    case Multibase::Base36: return decode_big(kBase36, true, text, "base36");
    case Multibase::Base32: return decode_bits(kBase32, true, 5, text, "base32");
    case Multibase::Base16: return decode_bits(kBase16, true, 4, text, "base16");
    case Multibase::Base64: return decode_bits(kBase64, false, 6, text, "base64");
    case Multibase::Base64Url: return decode_bits(kBase64Url, false, 6, text, "base64url");
  }
  return {};
}

std::string multibase_encode(Multibase base, BytesView bytes) {
  return std::string(1, multibase_prefix(base)) + encode_base(base, bytes);
}

Bytes multibase_decode(std::string_view text, Multibase* base_out) {
  if (text.empty()) fail(ErrorKind::InvalidArgument, "empty multibase string");
  Multibase base;
  switch (text[0]) {
    case 'z': base = Multibase::Base58Btc; break;
    case 'b':
    case 'B': base = Multibase::Base32; break;
    case 'k':
    case 'K': base = Multibase::Base36; break;
    case 'f':
    case 'F': base = Multibase::Base16; break;
    case 'm':
    case 'M': base = Multibase::Base64; break;
    case 'u':
    case 'U': base = Multibase::Base64Url; break;
    default: fail(ErrorKind::Unsupported, "unsupported multibase prefix '{}'", text[0]);
  }
  if (base_out) *base_out = base;
  return decode_base(base, text.substr(1));
}

}  // namespace ia::ipfs
