// libFuzzer target for CID parsing, text and binary. Any input must either
// parse into a CID that prints and re-parses to itself, or throw ia::Error;
// any other exception, a crash or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "ipfs/cid.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  try {
    ia::ipfs::Cid c = ia::ipfs::Cid::parse(in);
    if (!(ia::ipfs::Cid::parse(c.to_string()) == c)) std::abort();
    if (!(ia::ipfs::Cid::from_bytes(c.bytes()) == c)) std::abort();
  } catch (const ia::Error&) {
  }
  try {
    ia::ipfs::Cid c = ia::ipfs::Cid::from_bytes(in);
    if (c.bytes() != in) std::abort();  // binary CIDs are canonical (minimal varints)
  } catch (const ia::Error&) {
  }
  return 0;
}
