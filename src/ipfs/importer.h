#pragma once
// The UnixFS importer, equal to kubo's `ipfs add`: fixed-size chunks, a
// balanced DAG of at most `max_links` children per node, dag-pb or raw leaves,
// a file of one chunk is that leaf itself, directories with links sorted by
// name bytes (sharded past kubo's threshold). Files are streamed: memory holds
// one chunk plus one pending link list per tree level, whatever the file size.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ipfs/blockstore.h"
#include "ipfs/hamt.h"

namespace ia::ipfs {

inline constexpr size_t kDefaultChunkSize = 262144;
inline constexpr size_t kMaxChunkSize = 1048576;  // kubo's limit
inline constexpr size_t kDefaultMaxLinks = 174;
// kubo >= 0.40 shards a directory when the sum of link name and CID bytes is above this.
inline constexpr size_t kHamtShardThreshold = 262144;

struct ImportOptions {
  uint64_t cid_version = 0;
  std::optional<bool> raw_leaves;  // default: true with CIDv1, as in kubo
  size_t chunk_size = kDefaultChunkSize;
  size_t max_links = kDefaultMaxLinks;
  bool hidden = false;  // include dot-files
  // Store what symlinks point to instead of the links (kubo's --dereference-symlinks):
  // a Hugging Face cache snapshot is links into ../../blobs, which would dangle
  // wherever the folder is fetched.
  bool dereference_symlinks = false;

  bool use_raw_leaves() const { return raw_leaves.value_or(cid_version == 1); }
  // Throws ia::Error(InvalidArgument) for an out-of-range value.
  void validate() const;
};

// Parses kubo's "size-N" chunker spec.
size_t parse_chunker(std::string_view spec);

// Streams one file's bytes into a DAG.
class FileImporter {
 public:
  FileImporter(BlockSink& sink, const ImportOptions& options);
  void write(BytesView data);
  // Flushes the last chunk and builds the parents; call once.
  BuiltNode finish();

 private:
  struct Child {
    Cid cid;
    uint64_t tsize;
    uint64_t filesize;
  };
  void emit_leaf(BytesView chunk);
  void push(size_t level, Child child);
  Child make_parent(std::vector<Child>& children);

  BlockSink& sink_;
  ImportOptions opt_;
  Bytes buffer_;
  Bytes leaf_block_;  // reused for every dag-pb leaf
  std::vector<std::vector<Child>> levels_;
  uint64_t leaves_ = 0;
};

BuiltNode import_bytes(BytesView data, BlockSink& sink, const ImportOptions& options);

struct AddedEntry {
  std::string path;  // as kubo prints it: the argument's base name, then the relative path
  Cid cid;
  uint64_t size = 0;  // cumulative DAG bytes (kubo's "Size")
  bool directory = false;
};

// Imports a file, or (when `recursive`) a directory tree. Calls on_entry for
// every file and directory, children before their directory, the root last.
// Symlinks are stored as UnixFS symlink nodes (with dereference_symlinks, as the
// file or folder they point to; a dangling one is NotFound, a loop
// InvalidArgument); other special files are refused. The bytes read are a
// ProgressTask "adding NAME" (core/progress.h).
BuiltNode import_path(const std::filesystem::path& path, BlockSink& sink, const ImportOptions& options, bool recursive,
                      const std::function<void(const AddedEntry&)>& on_entry = {});

// Builds a directory node (basic, or HAMT when over the threshold) from
// already-imported children; sorts them by name bytes.
BuiltNode build_directory(std::vector<DirEntryLink> entries, BlockSink& sink, uint64_t cid_version);

// The folder holding exactly `files` (already-imported files by relative path, '/' between
// names): the folders on their paths and nothing else, so no empty folder, as `ipfs add -r`
// gives for a folder of just those files. InvalidArgument for an empty list, a path with an
// empty, `.` or `..` name, a path given twice, or a file that is also a folder of another.
BuiltNode build_directory_tree(std::vector<std::pair<std::string, BuiltNode>> files, BlockSink& sink,
                               uint64_t cid_version);

}  // namespace ia::ipfs
