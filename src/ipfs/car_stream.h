#pragma once
// An incremental (push) CARv1 reader: bytes are fed as they arrive from the
// network (a libcurl write callback) and every complete section is verified
// against its CID and handed on at once, so memory holds at most one section
// and nothing waits for the end of the stream. read_car (car.h) is the pull
// reader for files; this one exists because an HTTP body arrives in pieces.
#include <functional>
#include <vector>

#include "ipfs/cid.h"

namespace ia::ipfs {

class CarStreamReader {
 public:
  using OnBlock = std::function<void(const Cid&, BytesView block)>;
  explicit CarStreamReader(OnBlock on_block);

  // Consumes `data`; calls on_block for each verified block it completes.
  // Throws ia::Error(Corrupt) on a malformed stream or a block whose hash does
  // not match (nothing of that block reaches on_block), Unsupported on an
  // unknown hash function or a CAR version other than 1.
  void feed(BytesView data);
  // The stream ended: throws ia::Error(Corrupt) when it stopped before the
  // header or inside a section (a truncated response).
  void finish() const;

  bool has_header() const { return have_header_; }
  const std::vector<Cid>& roots() const { return roots_; }
  size_t blocks() const { return blocks_; }
  uint64_t offset() const { return offset_; }

 private:
  // A complete varint at the front of the unconsumed bytes, or false when more are needed.
  bool peek_varint(uint64_t& value, size_t& length, const char* what) const;

  OnBlock on_block_;
  Bytes buf_;
  size_t pos_ = 0;       // consumed prefix of buf_
  uint64_t offset_ = 0;  // stream offset of buf_[pos_]
  bool have_header_ = false;
  std::vector<Cid> roots_;
  size_t blocks_ = 0;
};

}  // namespace ia::ipfs
