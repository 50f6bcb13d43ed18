// libFuzzer target for the CAR reader (v1 and v2). Any input must either be
// read with every stored block matching its CID, or throw ia::Error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "core/error.h"
#include "ipfs/blockstore.h"
#include "ipfs/car.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  ia::ipfs::MemoryBlockstore store;
  try {
    ia::ipfs::read_car(in, store);
  } catch (const ia::Error&) {
  }
  store.for_each([&](const ia::ipfs::Multihash& mh) {
    auto b = store.get(mh);
    if (!b || !ia::ipfs::multihash_matches(mh, *b)) std::abort();
  });
  return 0;
}
