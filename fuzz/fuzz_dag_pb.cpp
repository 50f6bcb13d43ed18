// libFuzzer target for the dag-pb and UnixFS decoders. Any input must either
// decode (and the decoded node re-encode and decode to the same value) or throw
// ia::Error; anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "ipfs/dag_pb.h"
#include "ipfs/unixfs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  try {
    ia::ipfs::PbNode node = ia::ipfs::decode_pb_node(in);
    if (!(ia::ipfs::decode_pb_node(ia::ipfs::encode_pb_node(node)) == node)) std::abort();
    if (node.data) {
      ia::ipfs::UnixfsData d = ia::ipfs::decode_unixfs(*node.data);
      if (!(ia::ipfs::decode_unixfs(ia::ipfs::encode_unixfs(d)) == d)) std::abort();
    }
  } catch (const ia::Error&) {
  }
  try {
    ia::ipfs::decode_unixfs(in);
  } catch (const ia::Error&) {
  }
  return 0;
}
