#include "ipfs/hamt.h"

#include <array>
#include <map>
#include <memory>
#include <set>
#include <variant>

#include "core/error.h"
#include "ipfs/unixfs.h"

namespace ia::ipfs {

namespace {

inline uint64_t rotl(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

inline uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}

inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct Shard;
using Slot = std::variant<DirEntryLink, std::unique_ptr<Shard>>;
struct Shard {
  std::map<int, Slot> slots;  // ordered by slot index, the order links are written in
};

int slot_at(const std::string& name, int depth) {
  uint64_t h = murmur3_x64_64(name);
  if (depth >= 8) fail(ErrorKind::Unsupported, "HAMT: 64-bit hash collision between directory entries");
  return static_cast<int>((h >> (56 - 8 * depth)) & 0xff);
}

void insert(Shard& shard, DirEntryLink entry, int depth) {
  int idx = slot_at(entry.name, depth);
  auto it = shard.slots.find(idx);
  if (it == shard.slots.end()) {
    shard.slots.emplace(idx, std::move(entry));
    return;
  }
  if (auto* child = std::get_if<std::unique_ptr<Shard>>(&it->second)) {
    insert(**child, std::move(entry), depth + 1);
    return;
  }
  // Two entries in one slot: push both one level down.
  DirEntryLink existing = std::move(std::get<DirEntryLink>(it->second));
  auto child = std::make_unique<Shard>();
  insert(*child, std::move(existing), depth + 1);
  insert(*child, std::move(entry), depth + 1);
  it->second = std::move(child);
}

std::string slot_prefix(int idx) {
  return fmt::format("{:02X}", idx);
}

BuiltNode write_shard(const Shard& shard, BlockSink& sink, uint64_t cid_version) {
  PbNode node;
  std::array<uint8_t, kHamtFanout / 8> bitfield{};  // big-endian: slot i is bit i counted from the last byte
  uint64_t tsize = 0;
  for (const auto& [idx, slot] : shard.slots) {
    bitfield[bitfield.size() - 1 - idx / 8] |= static_cast<uint8_t>(1u << (idx % 8));
    if (const auto* e = std::get_if<DirEntryLink>(&slot)) {
      node.links.push_back(PbLink{e->cid, slot_prefix(idx) + e->name, e->tsize});
      tsize += e->tsize;
    } else {
      BuiltNode child = write_shard(*std::get<std::unique_ptr<Shard>>(slot), sink, cid_version);
      node.links.push_back(PbLink{child.cid, slot_prefix(idx), child.tsize});
      tsize += child.tsize;
    }
  }
  // Leading zero bytes are dropped, as boxo's bitfield (a big.Int in older versions) writes it.
  size_t first = 0;
  while (first < bitfield.size() && bitfield[first] == 0) ++first;
  UnixfsData d;
  d.type = UnixfsType::HamtShard;
  d.data = Bytes(reinterpret_cast<const char*>(bitfield.data()) + first, bitfield.size() - first);
  d.hash_type = kHashMurmur3X64_64;
  d.fanout = kHamtFanout;
  node.data = encode_unixfs(d);
  Bytes block = encode_pb_node(node);
  Cid cid = Cid::of(cid_version, kCodecDagPb, block);
  sink.put(cid, block);
  return BuiltNode{cid, tsize + block.size()};
}

void walk_shard(const PbNode& node, Blockstore& store, int depth, std::set<Multihash>& shards,
                const std::function<void(const std::string&, const PbLink&)>& fn) {
  if (depth > 8) fail(ErrorKind::Corrupt, "HAMT: shards nested deeper than the hash");
  if (!node.data) fail(ErrorKind::Corrupt, "HAMT shard without UnixFS data");
  UnixfsData d = decode_unixfs(*node.data);
  if (d.type != UnixfsType::HamtShard)
    fail(ErrorKind::Corrupt, "HAMT child is a {} node, not a shard", unixfs_type_name(d.type));
  if (d.hash_type.value_or(0) != kHashMurmur3X64_64 || d.fanout.value_or(0) != kHamtFanout) {
    fail(ErrorKind::Unsupported, "HAMT with hash 0x{:x} and fanout {} (supported: murmur3-x64-64, 256)",
         d.hash_type.value_or(0), d.fanout.value_or(0));
  }
  for (const auto& link : node.links) {
    const std::string name = link.name.value_or("");
    if (name.size() < 2) fail(ErrorKind::Corrupt, "HAMT link name \"{}\" lacks the slot prefix", name);
    if (name.size() > 2) {
      fn(name.substr(2), link);
      continue;
    }
    if (link.cid.codec != kCodecDagPb) fail(ErrorKind::Corrupt, "HAMT child shard is not dag-pb");
    // Each child shard holds entries no other slot can, so it occurs once in a
    // valid HAMT; a repeated one would multiply the walk (and listing) per level.
    if (!shards.insert(link.cid.hash).second)
      fail(ErrorKind::Corrupt, "HAMT child shard {} occurs more than once", link.cid.to_string());
    Bytes block = load_block(store, link.cid);
    walk_shard(decode_pb_node(block), store, depth + 1, shards, fn);
  }
}

}  // namespace

uint64_t murmur3_x64_64(BytesView data) {
  const uint8_t* p = byte_ptr(data);
  const size_t len = data.size();
  const uint64_t c1 = 0x87c37b91114253d5ull, c2 = 0x4cf5ad432745937full;
  uint64_t h1 = 0, h2 = 0;
  size_t nblocks = len / 16;
  for (size_t i = 0; i < nblocks; ++i) {
    uint64_t k1 = load_le64(p + 16 * i), k2 = load_le64(p + 16 * i + 8);
    k1 *= c1, k1 = rotl(k1, 31), k1 *= c2, h1 ^= k1;
    h1 = rotl(h1, 27), h1 += h2, h1 = h1 * 5 + 0x52dce729;
    k2 *= c2, k2 = rotl(k2, 33), k2 *= c1, h2 ^= k2;
    h2 = rotl(h2, 31), h2 += h1, h2 = h2 * 5 + 0x38495ab5;
  }
  const uint8_t* tail = p + nblocks * 16;
  uint64_t k1 = 0, k2 = 0;
  size_t rest = len & 15;
  for (size_t i = rest; i > 8; --i) k2 ^= static_cast<uint64_t>(tail[i - 1]) << (8 * (i - 9));
  if (rest > 8) k2 *= c2, k2 = rotl(k2, 33), k2 *= c1, h2 ^= k2;
  for (size_t i = std::min<size_t>(rest, 8); i > 0; --i) k1 ^= static_cast<uint64_t>(tail[i - 1]) << (8 * (i - 1));
  if (rest > 0) k1 *= c1, k1 = rotl(k1, 31), k1 *= c2, h1 ^= k1;
  h1 ^= len, h2 ^= len;
  h1 += h2, h2 += h1;
  h1 = fmix64(h1), h2 = fmix64(h2);
  h1 += h2;
  return h1;
}

BuiltNode build_hamt_directory(std::vector<DirEntryLink> entries, BlockSink& sink, uint64_t cid_version) {
  Shard root;
  for (auto& e : entries) insert(root, std::move(e), 0);
  return write_shard(root, sink, cid_version);
}

void for_each_hamt_entry(const PbNode& root, Blockstore& store,
                         const std::function<void(const std::string&, const PbLink&)>& fn) {
  std::set<Multihash> shards;
  walk_shard(root, store, 0, shards, fn);
}

std::optional<Cid> hamt_find(const PbNode& root, Blockstore& store, std::string_view name, std::vector<Cid>* route) {
  auto unixfs_of = [](const PbNode& n) {
    if (!n.data) fail(ErrorKind::Corrupt, "HAMT node without UnixFS data");
    return decode_unixfs(*n.data);
  };
  UnixfsData d = unixfs_of(root);
  if (d.type != UnixfsType::HamtShard) fail(ErrorKind::Corrupt, "not a HAMT shard");
  if (d.fanout.value_or(0) != kHamtFanout)
    fail(ErrorKind::Unsupported, "HAMT fanout {} (only {} is supported)", d.fanout.value_or(0), kHamtFanout);
  if (d.hash_type.value_or(0) != kHashMurmur3X64_64)
    fail(ErrorKind::Unsupported, "HAMT hash 0x{:x} (only murmur3-x64-64 is supported)", d.hash_type.value_or(0));
  uint64_t h = murmur3_x64_64(name);
  PbNode node = root;
  // One byte of the hash per level, most significant first, as the writer places entries.
  for (int depth = 0; depth < 8; ++depth) {
    std::string prefix = fmt::format("{:02X}", (h >> (56 - 8 * depth)) & 0xff);
    const PbLink* shard = nullptr;
    for (const auto& l : node.links) {
      std::string_view link_name = l.name ? std::string_view(*l.name) : std::string_view();
      if (link_name.size() < 2 || link_name.substr(0, 2) != prefix) continue;
      if (link_name.size() > 2) {
        if (link_name.substr(2) == name) return l.cid;
        return std::nullopt;  // the slot holds another entry
      }
      shard = &l;
      break;
    }
    if (!shard) return std::nullopt;
    Cid next = shard->cid;
    node = decode_pb_node(load_block(store, next));
    if (unixfs_of(node).type != UnixfsType::HamtShard)
      fail(ErrorKind::Corrupt, "HAMT child {} is not a shard", next.to_string());
    if (route) route->push_back(next);
  }
  fail(ErrorKind::Corrupt, "HAMT deeper than its 64-bit hash");
}

}  // namespace ia::ipfs
