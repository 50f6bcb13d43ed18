#include "ipfs/exporter.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "ipfs/dag_pb.h"
#include "ipfs/fs_blockstore.h"
#include "ipfs/hamt.h"
#include "ipfs/unixfs.h"

namespace ia::ipfs {

namespace fs = std::filesystem;

namespace {

// Deeper than any DAG an importer makes (a 174-ary tree of depth 10 holds far
// more than any disk), shallow enough that recursion cannot blow the stack.
constexpr int kMaxDepth = 64;

struct Node {
  Bytes block;
  PbNode pb;
  UnixfsData fs;
};

Node load_unixfs(Blockstore& store, const Cid& cid) {
  Node n;
  n.block = load_block(store, cid);
  if (cid.codec != kCodecDagPb)
    fail(ErrorKind::Unsupported, "{}: codec 0x{:x} is not UnixFS", cid.to_string(), cid.codec);
  n.pb = decode_pb_node(n.block);
  if (!n.pb.data) fail(ErrorKind::Corrupt, "{}: dag-pb node without UnixFS data", cid.to_string());
  n.fs = decode_unixfs(*n.pb.data);
  return n;
}

bool is_directory_type(UnixfsType t) {
  return t == UnixfsType::Directory || t == UnixfsType::HamtShard;
}

std::vector<DirListing> entries_of(Blockstore& store, const Cid& cid, const Node& n) {
  std::vector<DirListing> out;
  if (n.fs.type == UnixfsType::Directory) {
    for (const auto& l : n.pb.links) out.push_back(DirListing{l.name.value_or(""), l.cid, l.tsize.value_or(0)});
  } else if (n.fs.type == UnixfsType::HamtShard) {
    for_each_hamt_entry(n.pb, store, [&](const std::string& name, const PbLink& l) {
      out.push_back(DirListing{name, l.cid, l.tsize.value_or(0)});
    });
  } else {
    fail(ErrorKind::InvalidArgument, "{} is not a directory", cid.to_string());
  }
  return out;
}

// Streams file content; `sink(bytes)` receives it in order.
template <typename Sink>
uint64_t stream_file(Blockstore& store, const Cid& cid, int depth, Sink& sink) {
  if (depth > kMaxDepth) fail(ErrorKind::Corrupt, "{}: file DAG nested deeper than {}", cid.to_string(), kMaxDepth);
  if (cid.codec == kCodecRaw) {
    Bytes block = load_block(store, cid);
    sink(BytesView(block));
    return block.size();
  }
  Node n = load_unixfs(store, cid);
  if (is_directory_type(n.fs.type)) fail(ErrorKind::InvalidArgument, "{} is a directory", cid.to_string());
  if (n.fs.type == UnixfsType::Symlink) fail(ErrorKind::InvalidArgument, "{} is a symlink", cid.to_string());
  if (n.fs.type != UnixfsType::File && n.fs.type != UnixfsType::Raw) {
    fail(ErrorKind::Unsupported, "{}: UnixFS {} nodes cannot be read as a file", cid.to_string(),
         unixfs_type_name(n.fs.type));
  }
  uint64_t total = 0;
  if (n.fs.data) {
    sink(BytesView(*n.fs.data));
    total += n.fs.data->size();
  }
  for (const auto& l : n.pb.links) total += stream_file(store, l.cid, depth + 1, sink);
  if (n.fs.filesize && *n.fs.filesize != total) {
    fail(ErrorKind::Corrupt, "{}: filesize says {} bytes but the DAG holds {}", cid.to_string(), *n.fs.filesize, total);
  }
  return total;
}

void export_node(Blockstore& store, const Cid& cid, const fs::path& dest, int depth) {
  if (depth > kMaxDepth) fail(ErrorKind::Corrupt, "directory tree nested deeper than {}", kMaxDepth);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(dest, ec))) fail(ErrorKind::InvalidArgument, "{} already exists", dest.string());
  if (cid.codec == kCodecDagPb) {
    Node n = load_unixfs(store, cid);
    if (is_directory_type(n.fs.type)) {
      auto entries = entries_of(store, cid, n);
      for (const auto& e : entries) {
        if (!is_safe_entry_name(e.name))
          fail(ErrorKind::Corrupt, "{}: unsafe directory entry name \"{}\"", cid.to_string(), e.name);
      }
      if (!fs::create_directory(dest, ec) || ec)
        fail(ErrorKind::Unavailable, "{}: cannot create folder", dest.string());
      for (const auto& e : entries) export_node(store, e.cid, dest / e.name, depth + 1);
      return;
    }
    if (n.fs.type == UnixfsType::Symlink) {
      std::string target = n.fs.data.value_or("");
      // Only links that stay inside the exported tree (relative, no "..").
      fs::path t(target);
      bool safe = !target.empty() && target.find('\0') == std::string::npos && t.is_relative();
      for (const auto& part : t) safe = safe && part != "..";
      if (!safe) fail(ErrorKind::Corrupt, "{}: refusing symlink to \"{}\"", cid.to_string(), target);
      fs::create_symlink(t, dest, ec);
      if (ec) fail(ErrorKind::Unavailable, "{}: cannot create symlink: {}", dest.string(), ec.message());
      return;
    }
  }
  // A file: into a temporary name, renamed once every block has been verified.
  fs::path tmp = dest;
  tmp += ".ia-partial";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(ErrorKind::Unavailable, "{}: cannot create: {}", tmp.string(), std::strerror(errno));
  auto write_all = [&](BytesView b) {
    while (!b.empty()) {
      ssize_t w = ::write(fd, b.data(), b.size());
      if (w < 0) {
        if (errno == EINTR) continue;
        fail(ErrorKind::Unavailable, "{}: write error: {}", tmp.string(), std::strerror(errno));
      }
      b.remove_prefix(static_cast<size_t>(w));
    }
  };
  try {
    stream_file(store, cid, 0, write_all);
    if (::fsync(fd) != 0) fail(ErrorKind::Unavailable, "{}: fsync failed", tmp.string());
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    ::unlink(tmp.c_str());
    fail(ErrorKind::Unavailable, "{}: cannot rename into place", dest.string());
  }
}

}  // namespace

IpfsPath parse_ipfs_path(std::string_view text) {
  if (text.rfind("ipfs://", 0) == 0)
    text.remove_prefix(7);
  else if (text.rfind("/ipfs/", 0) == 0)
    text.remove_prefix(6);
  size_t slash = text.find('/');
  IpfsPath p;
  p.root = Cid::parse(text.substr(0, slash));
  if (slash != std::string_view::npos) {
    std::string_view rest = text.substr(slash + 1);
    while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    p.path = std::string(rest);
  }
  return p;
}

bool is_safe_entry_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

Cid resolve_path(Blockstore& store, const Cid& root, std::string_view path, std::vector<Cid>* proof) {
  Cid cur = root;
  std::string walked = root.to_string();
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (seg.empty()) continue;
    if (cur.codec != kCodecDagPb) fail(ErrorKind::InvalidArgument, "{} is not a directory", walked);
    Node n = load_unixfs(store, cur);
    if (!is_directory_type(n.fs.type)) fail(ErrorKind::InvalidArgument, "{} is not a directory", walked);
    if (proof) proof->push_back(cur);
    bool found = false;
    if (n.fs.type == UnixfsType::HamtShard) {
      // By the name's hash: only the shards on its route are read.
      if (auto c = hamt_find(n.pb, store, seg, proof)) cur = *c, found = true;
    } else {
      for (const auto& e : entries_of(store, cur, n)) {
        if (e.name == seg) {
          cur = e.cid;
          found = true;
          break;
        }
      }
    }
    walked += "/" + std::string(seg);
    if (!found) fail(ErrorKind::NotFound, "{}: no such file or directory", walked);
  }
  return cur;
}

uint64_t cat_file(Blockstore& store, const Cid& cid, std::ostream& out) {
  auto sink = [&](BytesView b) {
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
    if (!out) fail(ErrorKind::Unavailable, "write error on output");
  };
  return stream_file(store, cid, 0, sink);
}

void export_to_path(Blockstore& store, const Cid& cid, const fs::path& dest) {
  // The whole tree is built under a temporary name and renamed at the end, so a
  // failure half-way (a missing or corrupt block) leaves nothing at `dest`.
  std::error_code ec;
  if (fs::exists(fs::symlink_status(dest, ec))) fail(ErrorKind::InvalidArgument, "{} already exists", dest.string());
  fs::path tmp = dest;
  tmp += fmt::format(".ia-partial-{}", ::getpid());
  fs::remove_all(tmp, ec);
  try {
    export_node(store, cid, tmp, 0);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    fs::remove_all(tmp, ec);
    fail(ErrorKind::Unavailable, "{}: cannot rename into place: {}", dest.string(), std::strerror(errno));
  }
}

std::vector<DirListing> list_directory(Blockstore& store, const Cid& dir) {
  if (dir.codec != kCodecDagPb) fail(ErrorKind::InvalidArgument, "{} is not a directory", dir.to_string());
  Node n = load_unixfs(store, dir);
  return entries_of(store, dir, n);
}

}  // namespace ia::ipfs
