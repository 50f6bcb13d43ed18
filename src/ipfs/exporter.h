#pragma once
// Reading UnixFS back out: resolve CID/path, stream a file's bytes, write a
// file or directory tree to disk. Every block comes through Blockstore::get,
// which verifies it; names from the DAG are checked so nothing is written
// outside the target folder.
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "ipfs/blockstore.h"

namespace ia::ipfs {

struct IpfsPath {
  Cid root;
  std::string path;  // "a/b/c" (no leading slash), empty for the root itself
};

// Accepts "CID", "CID/a/b", "/ipfs/CID/a/b" and "ipfs://CID/a/b".
IpfsPath parse_ipfs_path(std::string_view text);

// Follows `path` through directories (basic or HAMT). Throws NotFound for a
// missing name, InvalidArgument when a segment is not a directory. `proof`, when
// given, receives every directory and HAMT shard block read on the way, in order
// (what a trustless gateway sends before the target).
Cid resolve_path(Blockstore& store, const Cid& root, std::string_view path, std::vector<Cid>* proof = nullptr);

// True when a directory entry name is safe to create on disk: not empty, not
// "." or "..", no '/' and no NUL.
bool is_safe_entry_name(std::string_view name);

// What one cat or get may produce. A DAG is sized before anything is written
// (a file by its declared UnixFS sizes, a folder by a walk of its folders with
// each distinct sub-DAG sized once), so a DAG over a limit fails at once with
// an InvalidArgument naming the limit, and nothing is written.
struct ExportLimits {
  static constexpr uint64_t kDefaultMaxBytes = 256ull << 30;
  static constexpr uint64_t kDefaultMaxEntries = 1000000;
  uint64_t max_bytes = kDefaultMaxBytes;      // file bytes in all
  uint64_t max_entries = kDefaultMaxEntries;  // files, folders and symlinks
};

// The declared size of a file DAG (the root's `filesize`, or a raw block's
// size). Throws InvalidArgument for a directory or symlink.
uint64_t declared_file_size(Blockstore& store, const Cid& cid);

// Writes the file's bytes to `out`. Throws InvalidArgument for a directory or
// a file over `limits.max_bytes` (before writing anything). Every node's bytes
// are checked against its parent's `blocksizes` as they stream, so no more
// than the root's declared size is ever written, whatever the DAG repeats.
// Returns the number of bytes written.
uint64_t cat_file(Blockstore& store, const Cid& cid, std::ostream& out, const ExportLimits& limits = {});

// Writes the file or directory to `dest`, which must not exist yet. The tree
// is built in a private folder (mode 0700) beside `dest`, every file created
// with O_EXCL | O_NOFOLLOW relative to its folder's descriptor (no write ever
// follows a symlink), and moved to `dest` with one rename that never replaces
// anything. Symlinks must be relative without "..", and the root cannot be one
// (it would resolve beside `dest`). The bytes written are a ProgressTask "saving CID".
void export_to_path(Blockstore& store, const Cid& cid, const std::filesystem::path& dest,
                    const ExportLimits& limits = {});

// Every (path, cid) of a directory tree, for listings.
struct DirListing {
  std::string name;
  Cid cid;
  uint64_t tsize = 0;
};
// Entries of a directory node (basic or HAMT), in link order.
std::vector<DirListing> list_directory(Blockstore& store, const Cid& dir);

}  // namespace ia::ipfs
