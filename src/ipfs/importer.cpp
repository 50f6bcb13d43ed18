#include "ipfs/importer.h"

#include <algorithm>
#include <fstream>

#include "core/error.h"
#include "core/progress.h"
#include "ipfs/dag_pb.h"
#include "ipfs/unixfs.h"
#include "ipfs/varint.h"

namespace ia::ipfs {

namespace fs = std::filesystem;

void ImportOptions::validate() const {
  if (cid_version > 1) fail(ErrorKind::InvalidArgument, "--cid-version must be 0 or 1, not {}", cid_version);
  if (chunk_size == 0 || chunk_size > kMaxChunkSize) {
    fail(ErrorKind::InvalidArgument, "chunk size {} is out of range (1..{})", chunk_size, kMaxChunkSize);
  }
  if (max_links < 2) fail(ErrorKind::InvalidArgument, "max links per node must be at least 2");
}

size_t parse_chunker(std::string_view spec) {
  if (spec.rfind("size-", 0) != 0) {
    fail(ErrorKind::Unsupported, "chunker \"{}\" is not supported (only size-N)", spec);
  }
  std::string_view num = spec.substr(5);
  if (num.empty() || num.size() > 9 ||
      !std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    fail(ErrorKind::InvalidArgument, "invalid chunker \"{}\" (expected size-N)", spec);
  }
  size_t n = std::stoul(std::string(num));
  if (n == 0 || n > kMaxChunkSize)
    fail(ErrorKind::InvalidArgument, "chunk size {} is out of range (1..{})", n, kMaxChunkSize);
  return n;
}

FileImporter::FileImporter(BlockSink& sink, const ImportOptions& options) : sink_(sink), opt_(options) {
  opt_.validate();
  buffer_.reserve(opt_.chunk_size);
  if (!opt_.use_raw_leaves()) leaf_block_.reserve(opt_.chunk_size + 32);
}

void FileImporter::write(BytesView data) {
  while (!data.empty()) {
    if (buffer_.empty() && data.size() >= opt_.chunk_size) {  // whole chunks straight from the caller's buffer
      emit_leaf(data.substr(0, opt_.chunk_size));
      data.remove_prefix(opt_.chunk_size);
      continue;
    }
    size_t take = std::min(opt_.chunk_size - buffer_.size(), data.size());
    buffer_.append(data.substr(0, take));
    data.remove_prefix(take);
    if (buffer_.size() == opt_.chunk_size) {
      emit_leaf(buffer_);
      buffer_.clear();
    }
  }
}

void FileImporter::emit_leaf(BytesView chunk) {
  Child c;
  c.filesize = chunk.size();
  if (opt_.use_raw_leaves()) {
    c.cid = Cid::of(1, kCodecRaw, chunk);
    c.tsize = chunk.size();
    sink_.put(c.cid, chunk);
  } else {
    // The same bytes encode_pb_node(encode_unixfs(File{data, filesize})) gives,
    // written straight into a reused buffer: the chunk is copied once and no
    // 256 KiB allocation (an mmap + page faults each time) happens per leaf.
    const uint64_t n = chunk.size();
    uint64_t inner = 2 + (n ? 1 + varint_size(n) + n : 0) + 1 + varint_size(n);
    leaf_block_.clear();
    leaf_block_ += '\x0a';  // PBNode.Data
    append_varint(leaf_block_, inner);
    leaf_block_ += "\x08\x02";  // Type = File
    if (n) {
      leaf_block_ += '\x12';  // Data
      append_varint(leaf_block_, n);
      leaf_block_.append(chunk);
    }
    leaf_block_ += '\x18';  // filesize
    append_varint(leaf_block_, n);
    c.cid = Cid::of(opt_.cid_version, kCodecDagPb, leaf_block_);
    c.tsize = leaf_block_.size();
    sink_.put(c.cid, leaf_block_);
  }
  ++leaves_;
  push(0, std::move(c));
}

void FileImporter::push(size_t level, Child child) {
  if (levels_.size() <= level) levels_.resize(level + 1);
  levels_[level].push_back(std::move(child));
  if (levels_[level].size() == opt_.max_links) {
    Child parent = make_parent(levels_[level]);
    levels_[level].clear();
    push(level + 1, std::move(parent));
  }
}

FileImporter::Child FileImporter::make_parent(std::vector<Child>& children) {
  UnixfsData d;
  d.type = UnixfsType::File;
  PbNode node;
  uint64_t filesize = 0, tsize = 0;
  for (const auto& c : children) {
    node.links.push_back(PbLink{c.cid, std::string(), c.tsize});
    d.blocksizes.push_back(c.filesize);
    filesize += c.filesize;
    tsize += c.tsize;
  }
  d.filesize = filesize;
  node.data = encode_unixfs(d);
  Bytes block = encode_pb_node(node);
  Child p;
  p.cid = Cid::of(opt_.cid_version, kCodecDagPb, block);
  p.tsize = tsize + block.size();
  p.filesize = filesize;
  sink_.put(p.cid, block);
  return p;
}

BuiltNode FileImporter::finish() {
  // An empty file is one empty leaf; a partial last chunk is a leaf of its own.
  if (!buffer_.empty() || leaves_ == 0) {
    emit_leaf(buffer_);
    buffer_.clear();
  }
  // Collapse level by level, as a balanced builder grouping max_links at a time
  // would: every level below the top is flushed into a parent, even a lone node.
  for (size_t level = 0; level < levels_.size(); ++level) {
    auto& pending = levels_[level];
    bool top = level + 1 == levels_.size();
    if (top && pending.size() == 1) return BuiltNode{pending[0].cid, pending[0].tsize};
    if (pending.empty()) continue;
    Child parent = make_parent(pending);
    pending.clear();
    push(level + 1, std::move(parent));
  }
  fail(ErrorKind::Internal, "importer: no root produced");
}

BuiltNode import_bytes(BytesView data, BlockSink& sink, const ImportOptions& options) {
  FileImporter imp(sink, options);
  imp.write(data);
  return imp.finish();
}

BuiltNode build_directory(std::vector<DirEntryLink> entries, BlockSink& sink, uint64_t cid_version) {
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].name == entries[i - 1].name)
      fail(ErrorKind::InvalidArgument, "duplicate directory entry \"{}\"", entries[i].name);
  }
  size_t estimate = 0;
  for (const auto& e : entries) estimate += e.name.size() + e.cid.bytes().size();
  if (estimate > kHamtShardThreshold) return build_hamt_directory(std::move(entries), sink, cid_version);
  PbNode node;
  uint64_t tsize = 0;
  for (auto& e : entries) {
    tsize += e.tsize;
    node.links.push_back(PbLink{e.cid, e.name, e.tsize});
  }
  UnixfsData d;
  d.type = UnixfsType::Directory;
  node.data = encode_unixfs(d);
  Bytes block = encode_pb_node(node);
  Cid cid = Cid::of(cid_version, kCodecDagPb, block);
  sink.put(cid, block);
  return BuiltNode{cid, tsize + block.size()};
}

namespace {

BuiltNode import_file(const fs::path& path, BlockSink& sink, const ImportOptions& options, ProgressTask& task) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::NotFound, "{}: cannot open", path.string());
  FileImporter imp(sink, options);
  Bytes buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize got = in.gcount();
    if (got > 0) {
      imp.write(BytesView(buf.data(), static_cast<size_t>(got)));
      task.advance(static_cast<uint64_t>(got));
    }
  }
  if (in.bad()) fail(ErrorKind::Unavailable, "{}: read error", path.string());
  return imp.finish();
}

BuiltNode import_symlink(const fs::path& path, BlockSink& sink, const ImportOptions& options) {
  UnixfsData d;
  d.type = UnixfsType::Symlink;
  d.data = fs::read_symlink(path).string();
  PbNode node;
  node.data = encode_unixfs(d);
  Bytes block = encode_pb_node(node);
  Cid cid = Cid::of(options.cid_version, kCodecDagPb, block);
  sink.put(cid, block);
  return BuiltNode{cid, block.size()};
}

// `open_dirs`: the folders being imported around this entry, when symlinks are
// followed (a link to one of them would recurse for ever).
BuiltNode import_entry(const fs::path& path, const std::string& shown, BlockSink& sink, const ImportOptions& options,
                       const std::function<void(const AddedEntry&)>& on_entry, std::vector<fs::path>& open_dirs,
                       ProgressTask& task) {
  auto status = fs::symlink_status(path);
  if (fs::is_symlink(status) && options.dereference_symlinks) {
    std::error_code ec;
    status = fs::status(path, ec);
    if (ec || !fs::exists(status))
      fail(ErrorKind::NotFound, "{}: a symlink to a missing file ({})", path.string(),
           fs::read_symlink(path, ec).string());
  }
  BuiltNode node;
  bool dir = false;
  if (fs::is_symlink(status)) {
    node = import_symlink(path, sink, options);
  } else if (fs::is_regular_file(status)) {
    node = import_file(path, sink, options, task);
  } else if (fs::is_directory(status)) {
    dir = true;
    if (options.dereference_symlinks) {
      fs::path real = fs::canonical(path);
      if (std::find(open_dirs.begin(), open_dirs.end(), real) != open_dirs.end())
        fail(ErrorKind::InvalidArgument, "{}: a symlink loop (it leads back to {})", path.string(), real.string());
      open_dirs.push_back(std::move(real));
    }
    std::vector<std::pair<std::string, fs::path>> children;
    for (const auto& e : fs::directory_iterator(path)) {
      std::string name = e.path().filename().string();
      if (!options.hidden && !name.empty() && name[0] == '.') continue;
      children.emplace_back(name, e.path());
    }
    std::sort(children.begin(), children.end());
    std::vector<DirEntryLink> links;
    for (const auto& [name, child] : children) {
      BuiltNode c = import_entry(child, shown + "/" + name, sink, options, on_entry, open_dirs, task);
      links.push_back(DirEntryLink{name, c.cid, c.tsize});
    }
    node = build_directory(std::move(links), sink, options.cid_version);
    if (options.dereference_symlinks) open_dirs.pop_back();
  } else {
    fail(ErrorKind::Unsupported, "{}: not a regular file, directory or symlink", path.string());
  }
  if (on_entry) on_entry(AddedEntry{shown, node.cid, node.tsize, dir});
  return node;
}

// What import_entry will read of `path`, for the progress bar only: the files' bytes, dot-files
// only when included, a symlink's target only when followed (folders behind links are missed).
uint64_t bytes_to_import(const fs::path& path, const ImportOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    const uint64_t size = fs::file_size(path, ec);
    return ec ? 0 : size;
  }
  uint64_t total = 0;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!options.hidden && !name.empty() && name[0] == '.') {
      it.disable_recursion_pending();
      continue;
    }
    std::error_code entry_ec;
    if (it->is_symlink(entry_ec) && !options.dereference_symlinks) continue;
    if (!it->is_regular_file(entry_ec)) continue;
    const uint64_t size = it->file_size(entry_ec);
    if (!entry_ec) total += size;
  }
  return total;
}

}  // namespace

BuiltNode import_path(const fs::path& path, BlockSink& sink, const ImportOptions& options, bool recursive,
                      const std::function<void(const AddedEntry&)>& on_entry) {
  options.validate();
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) fail(ErrorKind::NotFound, "{}: no such file or directory", path.string());
  if (fs::is_directory(status) && !recursive) {
    fail(ErrorKind::InvalidArgument, "{} is a directory, use -r to add directories", path.string());
  }
  fs::path clean = path.lexically_normal();
  std::string shown = clean.filename().string();
  if (shown.empty()) shown = clean.parent_path().filename().string();
  if (shown.empty() || shown == ".") shown = fs::absolute(clean).lexically_normal().filename().string();
  // The top-level argument is followed when it is a symlink, as kubo does.
  fs::path target = fs::is_symlink(fs::symlink_status(path)) ? fs::canonical(path) : path;
  std::vector<fs::path> open_dirs;
  ProgressTask task(fmt::format("adding {}", shown), bytes_to_import(target, options), ProgressUnit::Bytes);
  BuiltNode root = import_entry(target, shown, sink, options, on_entry, open_dirs, task);
  task.finish();
  return root;
}

namespace {

// The folder of `files[begin, end)` (sorted by path), whose paths start with `depth` names
// already consumed (`offset` characters).
BuiltNode build_tree_level(const std::vector<std::pair<std::string, BuiltNode>>& files, size_t begin, size_t end,
                           size_t offset, BlockSink& sink, uint64_t cid_version) {
  std::vector<DirEntryLink> links;
  size_t i = begin;
  while (i < end) {
    const std::string& path = files[i].first;
    const size_t slash = path.find('/', offset);
    const std::string name = path.substr(offset, slash == std::string::npos ? std::string::npos : slash - offset);
    if (slash == std::string::npos) {
      if (i + 1 < end && files[i + 1].first.compare(0, path.size() + 1, path + "/") == 0)
        fail(ErrorKind::InvalidArgument, "`{}` is both a file and a folder", path);
      links.push_back(DirEntryLink{name, files[i].second.cid, files[i].second.tsize});
      ++i;
      continue;
    }
    // Every path in this folder: they share `path[0, slash + 1)` and, sorted, are contiguous.
    const std::string folder = path.substr(0, slash + 1);
    size_t j = i;
    while (j < end && files[j].first.compare(0, folder.size(), folder) == 0) ++j;
    const BuiltNode sub = build_tree_level(files, i, j, slash + 1, sink, cid_version);
    links.push_back(DirEntryLink{name, sub.cid, sub.tsize});
    i = j;
  }
  return build_directory(std::move(links), sink, cid_version);
}

}  // namespace

BuiltNode build_directory_tree(std::vector<std::pair<std::string, BuiltNode>> files, BlockSink& sink,
                               uint64_t cid_version) {
  if (files.empty()) fail(ErrorKind::InvalidArgument, "a folder of no files");
  for (const auto& [path, _] : files) {
    size_t start = 0;
    while (true) {
      const size_t slash = path.find('/', start);
      const std::string_view name =
          std::string_view(path).substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (name.empty() || name == "." || name == ".." || name.find('\0') != std::string_view::npos)
        fail(ErrorKind::InvalidArgument, "`{}`: not a relative path of names", path);
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
  }
  // Sorted with '/' first so that a folder's paths are contiguous ("a/b" before "a.txt").
  auto key = [](const std::string& p) {
    std::string k = p;
    for (char& c : k) c = c == '/' ? '\0' : c;
    return k;
  };
  std::sort(files.begin(), files.end(), [&](const auto& a, const auto& b) { return key(a.first) < key(b.first); });
  for (size_t i = 1; i < files.size(); ++i)
    if (files[i].first == files[i - 1].first) fail(ErrorKind::InvalidArgument, "`{}` is given twice", files[i].first);
  return build_tree_level(files, 0, files.size(), 0, sink, cid_version);
}

}  // namespace ia::ipfs
