#pragma once
// A model folder's manifest: each file's relative path, size and sha256, and the IPFS CID of the
// folder holding exactly those files (as `ipfs add -r` of that folder prints it, with the import
// options recorded beside it). `models push` writes it last to an S3 prefix, so a reader that
// finds it knows the upload is complete and can check every byte it downloads against it:
//
//   {"format": "ipfs-accelerate-folder-manifest", "version": 1,
//    "cid": "Qm…", "ipfs": {"cid_version": 0, "raw_leaves": false, "chunker": "size-262144"},
//    "total_bytes": 1234,
//    "files": [{"path": "config.json", "size": 570, "sha256": "…"}, …]}
//
// The files a folder publishes are its regular files (symlinks followed, as a Hugging Face
// snapshot is links into blobs/), without hidden names (a name starting with '.', at any depth:
// .git, .cache, the manifest itself) and temporary ones (…~, *.tmp, *.temp, *.partial,
// *.partial-*, *.incomplete, *.swp, *.lock), so the CID is also what `ipfs add -r` gives for the
// folder downloaded from the store.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ipfs/importer.h"

namespace ia::ipfs {

inline constexpr const char* kFolderManifestName = ".ipfs-accelerate-manifest.json";
inline constexpr size_t kMaxManifestBytes = 16u << 20;
inline constexpr size_t kMaxManifestFiles = 100000;

struct ManifestFile {
  std::string path;  // relative, '/' between names
  uint64_t size = 0;
  std::string sha256;  // 64 lower-case hex digits
};

struct FolderManifest {
  std::vector<ManifestFile> files;  // sorted by path
  std::string cid;                  // of the folder of just these files
  ImportOptions import;             // the options that CID was computed with
  uint64_t total_bytes() const;
  const ManifestFile* find(const std::string& path) const;
};

struct SkippedFile {
  std::string path, reason;  // reason: "hidden", "temporary", "not a regular file"
};

// The files `dir` publishes (relative paths, sorted), and in `skipped` the names left out and why
// (a hidden folder is one entry). NotFound when `dir` is not a folder or a symlink in it dangles;
// InvalidArgument for a symlink loop or more than kMaxManifestFiles files.
std::vector<std::string> folder_files(const std::filesystem::path& dir, std::vector<SkippedFile>* skipped);

// Reads each of `files` (paths under `dir`) once: size, sha256 and the folder's CID. The bytes read
// are a ProgressTask "hashing NAME".
FolderManifest build_folder_manifest(const std::filesystem::path& dir, const std::vector<std::string>& files,
                                     const ImportOptions& import = {});

// Checks `dir` against `m`: each file's size and sha256, then the folder's CID. Corrupt naming the
// first file that differs (or the CID), NotFound for a missing file. A ProgressTask "verifying NAME".
void verify_folder_manifest(const std::filesystem::path& dir, const FolderManifest& m);

// The manifest's JSON text: the same manifest gives the same bytes (no time stamps), so a second
// push of an unchanged folder finds the stored manifest equal.
std::string folder_manifest_json(const FolderManifest& m);

// Parses and checks a manifest read from a store: at most kMaxManifestBytes and kMaxManifestFiles,
// the format and version, every path a relative path of names none hidden, given once, sizes,
// sha256 digests and the CID well formed. Corrupt (Unsupported for a newer version) otherwise.
FolderManifest parse_folder_manifest(std::string_view text);

}  // namespace ia::ipfs
