#include "ipfs/car_stream.h"

#include "core/error.h"
#include "ipfs/car.h"
#include "ipfs/multihash.h"
#include "ipfs/varint.h"

namespace ia::ipfs {

CarStreamReader::CarStreamReader(OnBlock on_block) : on_block_(std::move(on_block)) {}

bool CarStreamReader::peek_varint(uint64_t& value, size_t& length, const char* what) const {
  size_t avail = buf_.size() - pos_;
  for (size_t i = 0; i < avail && i < 9; ++i) {
    if (!(static_cast<uint8_t>(buf_[pos_ + i]) & 0x80)) {
      size_t p = pos_;
      value = read_varint(buf_, p, what);  // throws on a non-minimal encoding
      length = p - pos_;
      return true;
    }
  }
  if (avail >= 9) fail(ErrorKind::Corrupt, "CAR {} at byte {}: varint longer than 9 bytes", what, offset_);
  return false;
}

void CarStreamReader::feed(BytesView data) {
  buf_.append(data);
  for (;;) {
    uint64_t len;
    size_t vlen;
    const char* what = have_header_ ? "section length" : "header length";
    if (!peek_varint(len, vlen, what)) break;
    uint64_t limit = have_header_ ? kMaxCarSection : kMaxCarHeader;
    if (len == 0 || len > limit) fail(ErrorKind::Corrupt, "CAR {} {} at byte {}", what, len, offset_);
    if (buf_.size() - pos_ < vlen + len) break;  // the rest of this section is still on the wire
    BytesView body = BytesView(buf_).substr(pos_ + vlen, len);
    uint64_t start = offset_;
    if (!have_header_) {
      roots_ = decode_car_header(body);  // version 1 only: that is what we ask gateways for
      if (roots_.empty()) fail(ErrorKind::Corrupt, "CAR header has no roots");
      have_header_ = true;
    } else {
      size_t p = 0;
      Cid cid;
      try {
        cid = Cid::read(body, p);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::Unsupported) throw;
        fail(ErrorKind::Corrupt, "CAR section at byte {}: bad CID: {}", start, e.what());
      }
      BytesView block = body.substr(p);
      if (!multihash_matches(cid.hash, block)) {
        fail(ErrorKind::Corrupt, "CAR block {} (section {} at byte {}) does not match its hash", cid.to_string(),
             blocks_ + 1, start);
      }
      ++blocks_;
      on_block_(cid, block);
    }
    pos_ += vlen + len;
    offset_ += vlen + len;
  }
  // Drop what was consumed; what remains is less than one section.
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

void CarStreamReader::finish() const {
  if (!have_header_) fail(ErrorKind::Corrupt, "truncated CAR: the stream ended before its header");
  if (buf_.size() > pos_)
    fail(ErrorKind::Corrupt, "truncated CAR: the stream ended inside the section at byte {}", offset_);
}

}  // namespace ia::ipfs
