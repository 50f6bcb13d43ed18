#include "ipfs/car.h"

#include "core/error.h"
#include "ipfs/dag.h"
#include "ipfs/varint.h"

namespace ia::ipfs {

namespace {

// CBOR head: major type in the top 3 bits, argument minimal-length encoded.
void put_cbor_head(Bytes& out, uint8_t major, uint64_t arg) {
  uint8_t m = static_cast<uint8_t>(major << 5);
  if (arg < 24) {
    out += static_cast<char>(m | arg);
  } else if (arg < 0x100) {
    out += static_cast<char>(m | 24);
    out += static_cast<char>(arg);
  } else if (arg < 0x10000) {
    out += static_cast<char>(m | 25);
    for (int s = 8; s >= 0; s -= 8) out += static_cast<char>(arg >> s);
  } else {
    out += static_cast<char>(m | 26);
    for (int s = 24; s >= 0; s -= 8) out += static_cast<char>(arg >> s);
  }
}

void put_cbor_text(Bytes& out, std::string_view s) {
  put_cbor_head(out, 3, s.size());
  out += s;
}

// Just enough DAG-CBOR to read a CAR header: uints, byte/text strings,
// arrays, maps and tag 42. Anything else is refused.
class CborReader {
 public:
  explicit CborReader(BytesView d) : d_(d) {}
  bool done() const { return pos_ == d_.size(); }
  void head(uint8_t& major, uint64_t& arg) {
    uint8_t b = byte();
    major = b >> 5;
    uint8_t info = b & 31;
    if (info < 24) {
      arg = info;
    } else if (info <= 27) {
      int n = 1 << (info - 24);
      arg = 0;
      for (int i = 0; i < n; ++i) arg = (arg << 8) | byte();
    } else {
      fail(ErrorKind::Corrupt, "CAR header: unsupported CBOR item 0x{:02x}", b);
    }
  }
  BytesView take(uint64_t n) {
    if (n > d_.size() - pos_) fail(ErrorKind::Corrupt, "CAR header: truncated CBOR");
    BytesView v = d_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string text() {
    uint8_t m;
    uint64_t n;
    head(m, n);
    if (m != 3) fail(ErrorKind::Corrupt, "CAR header: expected a text key");
    return std::string(take(n));
  }
  // Skips one item of any supported kind (bounded nesting).
  void skip(int depth = 0) {
    if (depth > 16) fail(ErrorKind::Corrupt, "CAR header: CBOR nested too deep");
    uint8_t m;
    uint64_t n;
    head(m, n);
    switch (m) {
      case 0:
      case 1: return;
      case 2:
      case 3: take(n); return;
      case 4:
        for (uint64_t i = 0; i < n; ++i) skip(depth + 1);
        return;
      case 5:
        for (uint64_t i = 0; i < n; ++i) skip(depth + 1), skip(depth + 1);
        return;
      case 6: skip(depth + 1); return;
      default: fail(ErrorKind::Corrupt, "CAR header: unsupported CBOR major type {}", m);
    }
  }

 private:
  uint8_t byte() {
    if (pos_ >= d_.size()) fail(ErrorKind::Corrupt, "CAR header: truncated CBOR");
    return static_cast<uint8_t>(d_[pos_++]);
  }
  BytesView d_;
  size_t pos_ = 0;
};

// Reads from the stream with a running offset and an optional end (CARv2 payload).
class Source {
 public:
  explicit Source(std::istream& in) : in_(in) {}
  uint64_t offset() const { return offset_; }
  void set_limit(uint64_t end) { limit_ = end; }
  bool at_end() {
    if (offset_ >= limit_) return true;
    if (in_.peek() != std::char_traits<char>::eof()) return false;
    // A CARv2 payload declares its size: ending before it is a truncation, even on a section boundary.
    if (limit_ != UINT64_MAX)
      fail(ErrorKind::Corrupt, "truncated CAR: the CARv2 payload ends at byte {} of {}", offset_, limit_);
    return true;
  }
  uint8_t byte(const char* what) {
    if (offset_ >= limit_) fail(ErrorKind::Corrupt, "truncated CAR: {} at byte {}", what, offset_);
    int c = in_.get();
    if (c == std::char_traits<char>::eof()) fail(ErrorKind::Corrupt, "truncated CAR: {} at byte {}", what, offset_);
    ++offset_;
    return static_cast<uint8_t>(c);
  }
  uint64_t varint(const char* what) {
    Bytes buf;
    for (int i = 0; i < 9; ++i) {
      buf += static_cast<char>(byte(what));
      if (!(buf.back() & 0x80)) break;
    }
    size_t pos = 0;
    return read_varint(buf, pos, what);
  }
  Bytes read(uint64_t n, const char* what) {
    if (n > limit_ - offset_) fail(ErrorKind::Corrupt, "truncated CAR: {} runs past the end", what);
    Bytes out(n, '\0');
    in_.read(out.data(), static_cast<std::streamsize>(n));
    if (static_cast<uint64_t>(in_.gcount()) != n)
      fail(ErrorKind::Corrupt, "truncated CAR: {} at byte {}", what, offset_);
    offset_ += n;
    return out;
  }
  void skip_to(uint64_t target) {
    if (target < offset_) fail(ErrorKind::Corrupt, "CARv2: data offset {} points back into the header", target);
    while (offset_ < target) {
      uint64_t n = std::min<uint64_t>(target - offset_, 1 << 16);
      read(n, "CARv2 padding");
    }
  }

 private:
  std::istream& in_;
  uint64_t offset_ = 0;
  uint64_t limit_ = UINT64_MAX;
};

uint64_t le64(BytesView b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[i]);
  return v;
}

// Parses the header map; returns its version and roots.
std::pair<uint64_t, std::vector<Cid>> parse_header(BytesView header) {
  CborReader r(header);
  uint8_t m;
  uint64_t n;
  r.head(m, n);
  if (m != 5) fail(ErrorKind::Corrupt, "CAR header is not a CBOR map");
  uint64_t version = 0;
  std::vector<Cid> roots;
  bool have_version = false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string key = r.text();
    if (key == "version") {
      r.head(m, version);
      if (m != 0) fail(ErrorKind::Corrupt, "CAR header: version is not an integer");
      have_version = true;
    } else if (key == "roots") {
      uint64_t count;
      r.head(m, count);
      if (m != 4) fail(ErrorKind::Corrupt, "CAR header: roots is not an array");
      for (uint64_t k = 0; k < count; ++k) {
        uint64_t tag, len;
        r.head(m, tag);
        if (m != 6 || tag != 42) fail(ErrorKind::Corrupt, "CAR header: root is not a CID (tag 42)");
        r.head(m, len);
        if (m != 2) fail(ErrorKind::Corrupt, "CAR header: CID is not a byte string");
        BytesView b = r.take(len);
        if (b.empty() || b[0] != 0) fail(ErrorKind::Corrupt, "CAR header: CID lacks the 0x00 multibase prefix");
        roots.push_back(Cid::from_bytes(b.substr(1)));
      }
    } else {
      r.skip();
    }
  }
  if (!r.done()) fail(ErrorKind::Corrupt, "CAR header: trailing bytes");
  if (!have_version) fail(ErrorKind::Corrupt, "CAR header without a version");
  return {version, roots};
}

void read_v1_body(Source& src, BlockSink& sink, CarImportStats& stats) {
  while (!src.at_end()) {
    uint64_t len = src.varint("section length");
    if (len == 0 || len > kMaxCarSection)
      fail(ErrorKind::Corrupt, "CAR section of {} bytes at byte {}", len, src.offset());
    uint64_t start = src.offset();
    Bytes section = src.read(len, "section");
    size_t pos = 0;
    Cid cid;
    try {
      cid = Cid::read(section, pos);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Unsupported) throw;
      fail(ErrorKind::Corrupt, "CAR section at byte {}: bad CID: {}", start, e.what());
    }
    BytesView block = BytesView(section).substr(pos);
    if (!multihash_matches(cid.hash, block)) {
      fail(ErrorKind::Corrupt, "CAR block {} (section {} at byte {}) does not match its hash", cid.to_string(),
           stats.blocks + 1, start);
    }
    sink.put(cid, block);
    ++stats.blocks;
    stats.bytes += block.size();
  }
}

}  // namespace

Bytes encode_car_header(const std::vector<Cid>& roots) {
  // Keys in DAG-CBOR canonical order (shorter first): "roots" before "version".
  Bytes cbor;
  put_cbor_head(cbor, 5, 2);
  put_cbor_text(cbor, "roots");
  put_cbor_head(cbor, 4, roots.size());
  for (const auto& r : roots) {
    Bytes b = r.bytes();
    put_cbor_head(cbor, 6, 42);
    put_cbor_head(cbor, 2, b.size() + 1);
    cbor += '\0';
    cbor += b;
  }
  put_cbor_text(cbor, "version");
  put_cbor_head(cbor, 0, 1);
  return encode_varint(cbor.size()) + cbor;
}

std::vector<Cid> decode_car_header(BytesView header) {
  auto [version, roots] = parse_header(header);
  if (version != 1) fail(ErrorKind::Corrupt, "CAR header version {} (expected 1)", version);
  return roots;
}

CarExportStats write_car(Blockstore& store, const Cid& root, std::ostream& out) {
  CarExportStats stats;
  Bytes header = encode_car_header({root});
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  stats.bytes += header.size();
  walk_dag(store, root, [&](const Cid& cid, const Bytes& block) {
    Bytes cid_bytes = cid.bytes();
    Bytes prefix = encode_varint(cid_bytes.size() + block.size()) + cid_bytes;
    out.write(prefix.data(), static_cast<std::streamsize>(prefix.size()));
    out.write(block.data(), static_cast<std::streamsize>(block.size()));
    if (!out) fail(ErrorKind::Unavailable, "write error while exporting the CAR");
    ++stats.blocks;
    stats.bytes += prefix.size() + block.size();
  });
  return stats;
}

CarImportStats read_car(std::istream& in, BlockSink& sink) {
  Source src(in);
  CarImportStats stats;
  uint64_t hlen = src.varint("header length");
  if (hlen == 0 || hlen > kMaxCarHeader) fail(ErrorKind::Corrupt, "CAR header of {} bytes", hlen);
  auto [version, roots] = parse_header(src.read(hlen, "header"));
  if (version == 2) {
    // CARv2: 40 fixed bytes (characteristics, data offset, data size, index offset), then the CARv1 payload.
    Bytes fixed = src.read(40, "CARv2 header");
    uint64_t data_offset = le64(BytesView(fixed).substr(16)), data_size = le64(BytesView(fixed).substr(24));
    if (data_size > UINT64_MAX - data_offset) fail(ErrorKind::Corrupt, "CARv2: data range overflows");
    src.skip_to(data_offset);
    src.set_limit(data_offset + data_size);
    uint64_t inner_len = src.varint("CARv1 header length");
    if (inner_len == 0 || inner_len > kMaxCarHeader) fail(ErrorKind::Corrupt, "CAR header of {} bytes", inner_len);
    stats.roots = decode_car_header(src.read(inner_len, "CARv1 header"));
    stats.version = 2;
  } else if (version == 1) {
    stats.roots = std::move(roots);
  } else {
    fail(ErrorKind::Unsupported, "CAR version {} is not supported", version);
  }
  if (stats.roots.empty()) fail(ErrorKind::Corrupt, "CAR header has no roots");
  read_v1_body(src, sink, stats);
  return stats;
}

}  // namespace ia::ipfs
