#pragma once
// `models push DIR s3://bucket/prefix`: publishes a local model folder to an S3-compatible store,
// the counterpart of `--model s3://…` (s3_model_source.h).
//
// The folder's files (ipfs/folder_manifest.h: regular files, symlinks followed, hidden and
// temporary names skipped) are hashed once (size, sha256, the folder's IPFS CID). The prefix is
// listed; a file whose object is there with the same size and sha256 (the `x-amz-meta-sha256`
// this command stores, or for a single-part object an ETag equal to the file's MD5) is skipped
// unless `force`. Files up to `part_size` go by one PUT, larger ones by a multipart upload whose
// parts go `concurrency` at a time (each part retried by the client, re-signed; on a failure the
// upload is aborted, so no half-written object is left); every PUT and part carries Content-MD5,
// so the store refuses bytes that changed on the way. A multipart upload that fails (or whose push
// is killed) is not aborted: its state (s3_upload_state.h) lets the next push of the same file
// resume it, sending only the parts the store does not have. Each uploaded object is then checked by
// HEAD (size and sha256). The manifest (`prefix/.ipfs-accelerate-manifest.json`) goes last; when
// anything is to be uploaded, the old manifest is deleted first, so a reader never takes a
// half-pushed prefix for a complete one. Objects under the prefix that the folder lacks are left
// in place (and named in the result); they are not in the manifest, so a reader skips them.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ipfs/folder_manifest.h"
#include "providers/s3_client.h"

namespace ia::router {

inline constexpr size_t kDefaultPushPartSize = 64u << 20;
inline constexpr size_t kMinPushPartSize = 5u << 20;  // S3's smallest part but the last
inline constexpr size_t kMaxPushPartSize = size_t{5} << 30;

struct S3PushOptions {
  size_t part_size = kDefaultPushPartSize;  // files larger than this go as multipart uploads of such parts
  int concurrency = 4;                      // requests in flight at once (parts or small files)
  bool dry_run = false;                     // hash, list and compare only: nothing is written
  bool force = false;                       // upload every file, even those the store already has
  // Where the state of unfinished multipart uploads is kept (s3_upload_state.h); empty:
  // $IPFS_ACCELERATE_HOME.
  std::filesystem::path state_home;
};

struct S3PushedFile {
  std::string path;
  uint64_t size = 0;
  bool multipart = false;  // uploaded (or would be) as a multipart upload
  int parts = 0;
  int resumed_parts = 0;  // parts an earlier, interrupted push had stored (not sent again)
};

struct S3PushResult {
  std::string url, bucket, prefix, cid;
  std::vector<S3PushedFile> uploaded;  // with dry_run: what would be uploaded
  std::vector<S3PushedFile> unchanged;
  std::vector<ipfs::SkippedFile> skipped;  // files of the folder not published (hidden, temporary, …)
  std::vector<std::string> not_in_folder;  // keys under the prefix the folder does not have (left in place)
  uint64_t bytes_uploaded = 0, bytes_unchanged = 0;
  std::string manifest_key;
  bool manifest_written = false;  // false when the stored one was already this folder's (or dry_run)
};

// InvalidArgument for a malformed URL or options, or an endpoint without credentials; NotFound
// when `dir` is not a folder; the store's refusals (a 403 is Unavailable naming the endpoint);
// Corrupt when an object is not what was sent after upload. On any failure no manifest is written.
S3PushResult push_model_folder(const std::string& dir, const std::string& url, providers::S3Pool& pool,
                               const S3PushOptions& options);

}  // namespace ia::router
