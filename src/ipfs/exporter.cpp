#include "ipfs/exporter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdio.h>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "core/error.h"
#include "core/progress.h"
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

[[noreturn]] void fail_bytes_limit(const Cid& cid, uint64_t declared, uint64_t limit) {
  fail(ErrorKind::InvalidArgument,
       "{} declares {} bytes or more, over the output limit of {} bytes (raise it with --max-size or "
       "IPFS_ACCELERATE_MAX_OUTPUT)",
       cid.to_string(), declared, limit);
}

uint64_t checked_add(uint64_t a, uint64_t b, const Cid& cid) {
  if (b > UINT64_MAX - a) fail(ErrorKind::Corrupt, "{}: declared sizes overflow", cid.to_string());
  return a + b;
}

// A file node's own bytes plus what its children must deliver (its
// `blocksizes`), checked against its `filesize`. A child declared empty is
// refused: nothing would bound how often a DAG may repeat it.
uint64_t node_size(const Cid& cid, const Node& n) {
  uint64_t total = n.fs.data ? n.fs.data->size() : 0;
  if (!n.pb.links.empty() && n.fs.blocksizes.size() != n.pb.links.size()) {
    fail(ErrorKind::Corrupt, "{}: {} links but {} blocksizes", cid.to_string(), n.pb.links.size(),
         n.fs.blocksizes.size());
  }
  for (uint64_t b : n.fs.blocksizes) {
    if (b == 0) fail(ErrorKind::Corrupt, "{}: a child declared empty", cid.to_string());
    total = checked_add(total, b, cid);
  }
  if (n.fs.filesize && *n.fs.filesize != total) {
    fail(ErrorKind::Corrupt, "{}: filesize says {} bytes but its data and blocksizes say {}", cid.to_string(),
         *n.fs.filesize, total);
  }
  return total;
}

void check_file_type(const Cid& cid, const Node& n) {
  if (is_directory_type(n.fs.type)) fail(ErrorKind::InvalidArgument, "{} is a directory", cid.to_string());
  if (n.fs.type == UnixfsType::Symlink) fail(ErrorKind::InvalidArgument, "{} is a symlink", cid.to_string());
  if (n.fs.type != UnixfsType::File && n.fs.type != UnixfsType::Raw) {
    fail(ErrorKind::Unsupported, "{}: UnixFS {} nodes cannot be read as a file", cid.to_string(),
         unixfs_type_name(n.fs.type));
  }
}

// Streams file content; `sink(bytes)` receives it in order. The node must
// deliver exactly `expected` bytes (its parent's blocksize for it, or the
// root's declared size), checked before a byte of it is passed on, so the
// output never exceeds what the root declared.
template <typename Sink>
void stream_file(Blockstore& store, const Cid& cid, uint64_t expected, int depth, Sink& sink) {
  if (depth > kMaxDepth) fail(ErrorKind::Corrupt, "{}: file DAG nested deeper than {}", cid.to_string(), kMaxDepth);
  if (cid.codec == kCodecRaw) {
    Bytes block = load_block(store, cid);
    if (block.size() != expected)
      fail(ErrorKind::Corrupt, "{}: {} bytes where {} were declared", cid.to_string(), block.size(), expected);
    sink(BytesView(block));
    return;
  }
  Node n = load_unixfs(store, cid);
  check_file_type(cid, n);
  uint64_t size = node_size(cid, n);
  if (size != expected)
    fail(ErrorKind::Corrupt, "{}: declares {} bytes where its parent declared {}", cid.to_string(), size, expected);
  if (n.fs.data) sink(BytesView(*n.fs.data));
  for (size_t i = 0; i < n.pb.links.size(); ++i)
    stream_file(store, n.pb.links[i].cid, n.fs.blocksizes[i], depth + 1, sink);
}

// Before `cat` writes its first byte: every block of the file is here and every node's size
// agrees with its parent, so a missing or inconsistent block fails the command with nothing on
// stdout. Internal nodes are read (they are small); raw leaves are only looked up. Each
// distinct node is checked once (a DAG may link one subtree many times).
void require_file_blocks(Blockstore& store, const Cid& cid, uint64_t expected, int depth,
                         std::set<std::pair<std::string, uint64_t>>& checked) {
  if (depth > kMaxDepth) fail(ErrorKind::Corrupt, "{}: file DAG nested deeper than {}", cid.to_string(), kMaxDepth);
  if (!checked.insert({cid.to_string(), expected}).second) return;
  if (cid.codec == kCodecRaw) {
    if (cid.hash.code != kHashIdentity && !store.has(cid.hash))
      fail(ErrorKind::NotFound, "block {} not found in the blockstore", cid.to_string());
    return;
  }
  Node n = load_unixfs(store, cid);
  check_file_type(cid, n);
  const uint64_t size = node_size(cid, n);
  if (size != expected)
    fail(ErrorKind::Corrupt, "{}: declares {} bytes where its parent declared {}", cid.to_string(), size, expected);
  for (size_t i = 0; i < n.pb.links.size(); ++i)
    require_file_blocks(store, n.pb.links[i].cid, n.fs.blocksizes[i], depth + 1, checked);
}

bool is_safe_symlink_target(const std::string& target) {
  // Only links that stay inside the exported tree (relative, no "..").
  fs::path t(target);
  bool safe = !target.empty() && target.find('\0') == std::string::npos && t.is_relative();
  for (const auto& part : t) safe = safe && part != "..";
  return safe;
}

// What a sub-DAG will write: entries (files, folders, symlinks) and file bytes.
struct Footprint {
  uint64_t entries = 0, bytes = 0;
};

// Sizes the tree before anything is written: names, symlinks and limits are
// checked here, and each distinct sub-DAG is sized once (memo), so a folder
// that lists one subfolder many times, level after level, costs one visit per
// distinct block and fails on the limit instead of being written out.
class ExportPlan {
 public:
  ExportPlan(Blockstore& store, const ExportLimits& limits, const Cid& root)
      : store_(store), limits_(limits), root_(root) {}

  Footprint size(const Cid& cid, int depth) {
    if (depth > kMaxDepth) fail(ErrorKind::Corrupt, "directory tree nested deeper than {}", kMaxDepth);
    if (auto it = memo_.find(cid); it != memo_.end()) return it->second;
    Footprint f{1, 0};
    if (cid.codec == kCodecRaw) {
      f.bytes = load_block(store_, cid).size();
    } else {
      Node n = load_unixfs(store_, cid);
      if (is_directory_type(n.fs.type)) {
        std::set<std::string> names;
        for (const auto& e : entries_of(store_, cid, n)) {
          if (!is_safe_entry_name(e.name))
            fail(ErrorKind::Corrupt, "{}: unsafe directory entry name \"{}\"", cid.to_string(), e.name);
          if (!names.insert(e.name).second)
            fail(ErrorKind::Corrupt, "{}: the name \"{}\" appears twice", cid.to_string(), e.name);
          Footprint c = size(e.cid, depth + 1);
          f.entries = add_entries(f.entries, c.entries);
          f.bytes = add_bytes(f.bytes, c.bytes);
        }
      } else if (n.fs.type == UnixfsType::Symlink) {
        std::string target = n.fs.data.value_or("");
        if (!is_safe_symlink_target(target))
          fail(ErrorKind::Corrupt, "{}: refusing symlink to \"{}\"", cid.to_string(), target);
      } else {
        check_file_type(cid, n);
        f.bytes = node_size(cid, n);
      }
    }
    add_bytes(f.bytes, 0);
    memo_.emplace(cid, f);
    return f;
  }

 private:
  uint64_t add_entries(uint64_t a, uint64_t b) {
    uint64_t sum = b > UINT64_MAX - a ? UINT64_MAX : a + b;
    if (sum > limits_.max_entries) {
      fail(ErrorKind::InvalidArgument,
           "{} holds more than {} files, folders and symlinks, the limit (raise it with --max-entries)",
           root_.to_string(), limits_.max_entries);
    }
    return sum;
  }
  uint64_t add_bytes(uint64_t a, uint64_t b) {
    uint64_t sum = b > UINT64_MAX - a ? UINT64_MAX : a + b;
    if (sum > limits_.max_bytes) fail_bytes_limit(root_, sum, limits_.max_bytes);
    return sum;
  }
  Blockstore& store_;
  const ExportLimits& limits_;
  Cid root_;
  std::map<Cid, Footprint> memo_;
};

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

[[noreturn]] void fail_io(const fs::path& where, std::string_view what) {
  int err = errno;
  if (err == EEXIST) fail(ErrorKind::Corrupt, "{}: {}: the DAG names it twice", where.string(), what);
  fail(ErrorKind::Unavailable, "{}: {}: {}", where.string(), what, std::strerror(err));
}

// Writes node `cid` as `name` inside the folder open as `dir` (shown as
// `shown` in errors). Every creation is relative to `dir` and exclusive, and
// folders are entered with O_NOFOLLOW: a name the DAG made a symlink is never
// written through or descended into.
void export_node(Blockstore& store, int dir, const std::string& name, const fs::path& shown, const Cid& cid, int depth,
                 ProgressTask& task) {
  if (depth > kMaxDepth) fail(ErrorKind::Corrupt, "directory tree nested deeper than {}", kMaxDepth);
  if (cid.codec == kCodecDagPb) {
    Node n = load_unixfs(store, cid);
    if (is_directory_type(n.fs.type)) {
      auto entries = entries_of(store, cid, n);
      if (::mkdirat(dir, name.c_str(), 0755) != 0) fail_io(shown, "cannot create folder");
      Fd sub(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub.fd < 0) fail_io(shown, "cannot open folder");
      for (const auto& e : entries) {
        if (!is_safe_entry_name(e.name))  // the plan checked; a store that changed since is refused too
          fail(ErrorKind::Corrupt, "{}: unsafe directory entry name \"{}\"", cid.to_string(), e.name);
        export_node(store, sub.fd, e.name, shown / e.name, e.cid, depth + 1, task);
      }
      return;
    }
    if (n.fs.type == UnixfsType::Symlink) {
      std::string target = n.fs.data.value_or("");
      if (!is_safe_symlink_target(target))
        fail(ErrorKind::Corrupt, "{}: refusing symlink to \"{}\"", cid.to_string(), target);
      if (::symlinkat(target.c_str(), dir, name.c_str()) != 0) fail_io(shown, "cannot create symlink");
      return;
    }
  }
  // A file, under its own name: the whole tree is private until its final rename.
  Fd out(::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (out.fd < 0) fail_io(shown, "cannot create");
  auto write_all = [&](BytesView b) {
    const size_t size = b.size();
    while (!b.empty()) {
      ssize_t w = ::write(out.fd, b.data(), b.size());
      if (w < 0) {
        if (errno == EINTR) continue;
        fail_io(shown, "write error");
      }
      b.remove_prefix(static_cast<size_t>(w));
    }
    task.advance(size);
  };
  stream_file(store, cid, declared_file_size(store, cid), 0, write_all);
  if (::fsync(out.fd) != 0) fail_io(shown, "fsync failed");
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

uint64_t declared_file_size(Blockstore& store, const Cid& cid) {
  if (cid.codec == kCodecRaw) return load_block(store, cid).size();
  Node n = load_unixfs(store, cid);
  check_file_type(cid, n);
  return node_size(cid, n);
}

uint64_t cat_file(Blockstore& store, const Cid& cid, std::ostream& out, const ExportLimits& limits) {
  uint64_t size = declared_file_size(store, cid);
  if (size > limits.max_bytes) fail_bytes_limit(cid, size, limits.max_bytes);
  std::set<std::pair<std::string, uint64_t>> checked;
  require_file_blocks(store, cid, size, 0, checked);
  auto sink = [&](BytesView b) {
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
    if (!out) fail(ErrorKind::Unavailable, "write error on output");
  };
  stream_file(store, cid, size, 0, sink);
  return size;
}

void export_to_path(Blockstore& store, const Cid& cid, const fs::path& dest_arg, const ExportLimits& limits) {
  fs::path dest = dest_arg.lexically_normal();
  if (!dest.has_filename()) dest = dest.parent_path();  // "out/" is "out"
  const std::string name = dest.filename().string();
  if (!is_safe_entry_name(name)) fail(ErrorKind::InvalidArgument, "{}: not a usable destination", dest_arg.string());
  std::error_code ec;
  if (fs::exists(fs::symlink_status(dest, ec))) fail(ErrorKind::InvalidArgument, "{} already exists", dest.string());
  if (cid.codec == kCodecDagPb && load_unixfs(store, cid).fs.type == UnixfsType::Symlink) {
    fail(ErrorKind::InvalidArgument, "{} is a symlink: as {} it would point beside it, outside what is exported",
         cid.to_string(), dest.string());
  }
  // Limits, names and symlinks: before anything is written.
  const uint64_t total_bytes = ExportPlan(store, limits, cid).size(cid, 0).bytes;
  ProgressTask task(fmt::format("saving {}", cid.to_string()), total_bytes, ProgressUnit::Bytes);

  // A private staging folder beside `dest` (same filesystem, so the final move
  // is one rename), created exclusively under a random name.
  fs::path parent = dest.parent_path().empty() ? fs::path(".") : dest.parent_path();
  Fd parent_fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (parent_fd.fd < 0) fail_io(parent, "cannot open folder");
  std::string stage_template = ".ia-get-XXXXXX";
  fs::path stage = parent / stage_template;
  std::string stage_path = stage.string();
  if (!::mkdtemp(stage_path.data())) fail_io(parent, "cannot create a staging folder");
  stage = stage_path;
  const std::string stage_name = stage.filename().string();
  try {
    Fd stage_fd(::openat(parent_fd.fd, stage_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (stage_fd.fd < 0) fail_io(stage, "cannot open the staging folder");
    export_node(store, stage_fd.fd, "root", dest, cid, 0, task);
    // Never replaces: a `dest` that appeared meanwhile (even an empty folder) is kept.
    if (::renameat2(stage_fd.fd, "root", parent_fd.fd, name.c_str(), RENAME_NOREPLACE) != 0) {
      if (errno == EEXIST) fail(ErrorKind::InvalidArgument, "{} already exists", dest.string());
      fail_io(dest, "cannot rename into place");
    }
  } catch (...) {
    fs::remove_all(stage, ec);  // removes links, never what they point to
    throw;
  }
  ::unlinkat(parent_fd.fd, stage_name.c_str(), AT_REMOVEDIR);
  task.finish();
}

std::vector<DirListing> list_directory(Blockstore& store, const Cid& dir) {
  if (dir.codec != kCodecDagPb) fail(ErrorKind::InvalidArgument, "{} is not a directory", dir.to_string());
  Node n = load_unixfs(store, dir);
  return entries_of(store, dir, n);
}

}  // namespace ia::ipfs
