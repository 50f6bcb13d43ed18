#include "ipfs/car_selection.h"

#include <charconv>

#include "core/error.h"
#include "ipfs/dag.h"
#include "ipfs/dag_pb.h"
#include "ipfs/exporter.h"
#include "ipfs/hamt.h"
#include "ipfs/unixfs.h"

namespace ia::ipfs {

namespace {

int64_t parse_offset(std::string_view s, std::string_view whole) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    fail(ErrorKind::InvalidArgument, "entity-bytes \"{}\": expected from:to (integers, to may be *)", whole);
  return v;
}

PbNode decode_node(BytesView block) {
  return decode_pb_node(block);
}

UnixfsData unixfs_of(const PbNode& n, const Cid& cid) {
  if (!n.data) fail(ErrorKind::Corrupt, "{}: dag-pb node without UnixFS data", cid.to_string());
  return decode_unixfs(*n.data);
}

}  // namespace

EntityBytes parse_entity_bytes(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos)
    fail(ErrorKind::InvalidArgument, "entity-bytes \"{}\": expected from:to (integers, to may be *)", text);
  EntityBytes r;
  r.from = parse_offset(text.substr(0, colon), text);
  std::string_view to = text.substr(colon + 1);
  if (to != "*") r.to = parse_offset(to, text);
  return r;
}

DagScope parse_dag_scope(std::string_view text) {
  if (text == "all") return DagScope::All;
  if (text == "entity") return DagScope::Entity;
  if (text == "block") return DagScope::Block;
  fail(ErrorKind::InvalidArgument, "unknown dag-scope \"{}\" (block, entity or all)", text);
}

CarBlockSequence::CarBlockSequence(Blockstore& store, const Cid& root, std::string_view path,
                                   const CarSelection& selection)
    : store_(store), sel_(selection), target_(root) {
  target_ = resolve_path(store_, root, path, &path_blocks_);
  plan_target();
}

void CarBlockSequence::plan_target() {
  DagScope scope = sel_.bytes ? DagScope::Entity : sel_.scope;
  if (scope == DagScope::All) {
    stack_.push_back({target_, 0, true});
    return;
  }
  Bytes& block = planned_.emplace(load_block(store_, target_));  // NotFound now, while a status can still say so
  bool follow = false;
  uint64_t size = block.size();
  bool is_file = target_.codec == kCodecRaw;
  if (scope == DagScope::Entity && target_.codec == kCodecDagPb) {
    UnixfsData d = unixfs_of(decode_node(block), target_);
    if (d.type == UnixfsType::File || d.type == UnixfsType::Raw) {
      follow = is_file = true;
      size = d.filesize.value_or(d.data ? d.data->size() : 0);
    } else if (d.type == UnixfsType::HamtShard) {
      follow = hamt_only_ = true;
    }
  }
  if (scope == DagScope::Entity && sel_.bytes && is_file) {
    const EntityBytes& b = *sel_.bytes;
    auto abs = [&](int64_t v) { return v < 0 ? std::max<int64_t>(0, static_cast<int64_t>(size) + v) : v; };
    int64_t lo = abs(b.from), hi = b.to ? abs(*b.to) : static_cast<int64_t>(size) - 1;
    if (b.to && *b.to < 0) hi = static_cast<int64_t>(size) + *b.to;
    hi = std::min<int64_t>(hi, static_cast<int64_t>(size) - 1);
    if (size > 0 && lo >= static_cast<int64_t>(size))
      fail(ErrorKind::InvalidArgument, "entity-bytes starts at {}, past the end of the {}-byte file", lo, size);
    if (hi < lo) {
      follow = false;  // a zero-length range: the root block alone, as dag-scope=block
    } else {
      range_ = true;
      lo_ = static_cast<uint64_t>(lo);
      hi_ = static_cast<uint64_t>(hi);
    }
  }
  stack_.push_back({target_, 0, follow});
}

void CarBlockSequence::push_children(const Cid& cid, BytesView block, uint64_t offset) {
  if (cid.codec != kCodecDagPb) return;  // raw: no links (other codecs are not traversed)
  PbNode n = decode_node(block);
  std::vector<Item> kids;
  if (hamt_only_) {
    for (const auto& l : n.links) {
      if (l.name && l.name->size() == 2) kids.push_back({l.cid, 0, true});  // a child shard, not an entry
    }
  } else if (range_) {
    UnixfsData d = unixfs_of(n, cid);
    uint64_t at = offset + (d.data ? d.data->size() : 0);
    for (size_t i = 0; i < n.links.size(); ++i) {
      if (i >= d.blocksizes.size()) {  // sizes unknown: keep it, the client can still verify
        kids.push_back({n.links[i].cid, at, true});
        continue;
      }
      uint64_t len = d.blocksizes[i];
      if (len > 0 && at <= hi_ && at + len - 1 >= lo_) kids.push_back({n.links[i].cid, at, true});
      at += len;
    }
  } else {
    for (const auto& l : n.links) kids.push_back({l.cid, 0, true});
  }
  for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack_.push_back(std::move(*it));
}

std::optional<std::pair<Cid, Bytes>> CarBlockSequence::next() {
  Bytes block;
  const Cid* cid = next(block);
  if (!cid) return std::nullopt;
  return std::make_pair(*cid, std::move(block));
}

const Cid* CarBlockSequence::next(Bytes& block) {
  while (path_next_ < path_blocks_.size()) {
    const Cid& c = path_blocks_[path_next_++];
    if (!sel_.dups && !seen_.insert(c.hash).second) continue;
    if (c.hash.code == kHashIdentity) continue;
    load_block_into(store_, c, block);
    current_ = c;
    return &current_;
  }
  while (!stack_.empty()) {
    Item it = std::move(stack_.back());
    stack_.pop_back();
    if (!sel_.dups && !seen_.insert(it.cid.hash).second) continue;
    if (planned_ && it.cid == target_) {  // the first item popped: the target, read by plan_target
      block.assign(*planned_);
      planned_.reset();
    } else {
      load_block_into(store_, it.cid, block);
    }
    if (it.follow) push_children(it.cid, block, it.offset);
    if (it.cid.hash.code == kHashIdentity) continue;  // its bytes are in the CID: never sent
    current_ = std::move(it.cid);
    return &current_;
  }
  return nullptr;
}

}  // namespace ia::ipfs
