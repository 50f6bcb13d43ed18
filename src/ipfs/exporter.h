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

// Writes the file's bytes to `out`. Throws InvalidArgument for a directory.
// Returns the number of bytes written.
uint64_t cat_file(Blockstore& store, const Cid& cid, std::ostream& out);

// Writes the file or directory to `dest`, which must not exist yet. Files are
// written to a temporary name and renamed when complete.
void export_to_path(Blockstore& store, const Cid& cid, const std::filesystem::path& dest);

// Every (path, cid) of a directory tree, for listings.
struct DirListing {
  std::string name;
  Cid cid;
  uint64_t tsize = 0;
};
// Entries of a directory node (basic or HAMT), in link order.
std::vector<DirListing> list_directory(Blockstore& store, const Cid& dir);

}  // namespace ia::ipfs
