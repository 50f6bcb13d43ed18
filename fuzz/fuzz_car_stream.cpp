// libFuzzer target for the streaming CAR reader (what `ipfs fetch` feeds a
// gateway's response through). The first byte picks the piece size the input
// is fed in; every block handed on must match its CID, and the pieces must
// agree with feeding the whole input at once.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "ipfs/car_stream.h"

namespace {

// The blocks (CID text) a reader hands on when fed `body` in pieces of `piece` bytes, and whether it threw.
std::pair<std::vector<std::string>, bool> read_in_pieces(std::string_view body, size_t piece) {
  std::vector<std::string> got;
  ia::ipfs::CarStreamReader reader([&](const ia::ipfs::Cid& cid, ia::ipfs::BytesView block) {
    if (!ia::ipfs::multihash_matches(cid.hash, block)) std::abort();  // unverified bytes handed on
    got.push_back(cid.to_string());
  });
  try {
    for (size_t at = 0; at < body.size(); at += piece) reader.feed(body.substr(at, piece));
    reader.finish();
  } catch (const ia::Error&) {
    return {got, true};
  }
  return {got, false};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto [split, split_threw] = read_in_pieces(body, piece);
  auto [whole, whole_threw] = read_in_pieces(body, body.size() + 1);
  if (split_threw != whole_threw || split != whole) std::abort();  // the split must not matter
  return 0;
}
