#pragma once
// What `models push` keeps of a multipart upload under way, so that an interrupted push (killed,
// a part that failed after its retries, a dropped connection) resumes it on the next run instead
// of sending every part again: $IPFS_ACCELERATE_HOME/s3-uploads/<sha256 of bucket and key>.json,
// {"version": 1, "endpoint", "bucket", "key", "upload_id", "size", "mtime_ns", "sha256",
// "part_size", "parts": {"N": "ETag", …}} with the parts the store acknowledged. It is written as
// a temporary file in the same folder, fsynced and renamed over the old one (a crash leaves the
// old state or the new one, never half of one), after each part, and removed once the upload
// completes. A state file that cannot be read is no state (the push starts over).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace ia::router {

struct S3UploadState {
  std::string endpoint;  // the S3 endpoint's label (a multipart upload lives on the endpoint that created it)
  std::string bucket, key, upload_id;
  // The local file the upload is of, as it was: a change to any of these makes the state stale.
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string sha256;
  uint64_t part_size = 0;
  std::map<int, std::string> parts;  // part number → its ETag, as the store answered the upload
};

class S3UploadStateFile {
 public:
  // The state of s3://bucket/key under `home` (default: $IPFS_ACCELERATE_HOME).
  S3UploadStateFile(const std::string& bucket, const std::string& key, std::filesystem::path home = {});
  const std::filesystem::path& path() const { return path_; }
  // nullopt when there is none, or it is unreadable or malformed (logged; the push starts over).
  std::optional<S3UploadState> load() const;
  // Unavailable when it cannot be written (the push then stops: it could not resume).
  void save(const S3UploadState& state) const;
  void remove() const;

 private:
  std::filesystem::path path_;
};

// A file's modification time in nanoseconds since the epoch (0 when it cannot be read).
int64_t file_mtime_ns(const std::filesystem::path& path);

}  // namespace ia::router
