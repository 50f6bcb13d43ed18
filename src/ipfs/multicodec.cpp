#include "ipfs/multicodec.h"

#include "core/error.h"

namespace ia::ipfs {

std::string_view codec_name(uint64_t code) {
  switch (code) {
    case kCodecRaw: return "raw";
    case kCodecDagPb: return "dag-pb";
    case kCodecDagCbor: return "dag-cbor";
    default: return {};
  }
}

uint64_t codec_from_name(std::string_view name) {
  for (uint64_t c : {kCodecRaw, kCodecDagPb, kCodecDagCbor}) {
    if (codec_name(c) == name) return c;
  }
  fail(ErrorKind::InvalidArgument, "unknown codec \"{}\" (expected raw, dag-pb or dag-cbor)", name);
}

}  // namespace ia::ipfs
