#pragma once
// A FAKE Hugging Face hub for tests: an httplib server on 127.0.0.1 (a free
// port) that answers as huggingface.co does for the routes the client uses.
//
//   GET /api/models/{org}/{name}/revision/{rev}[?blobs=true]
//       {"id", "sha", "siblings": [{"rfilename", "size", "blobId", "lfs": {"sha256", "size", "pointerSize"}}]}
//       (size, blobId and lfs only with blobs=true); 404 with X-Error-Code RepoNotFound / RevisionNotFound.
//   HEAD|GET /{org}/{name}/resolve/{rev}/{file}
//       a git file: 200, ETag "<git blob sha1>", X-Repo-Commit, the bytes (Range honoured: 206);
//       an LFS file: 302 to /cdn/<sha256> on another host name (localhost, not 127.0.0.1), with
//       X-Linked-Etag "<sha256>", X-Linked-Size, X-Repo-Commit and the pointer's ETag;
//       404 with X-Error-Code EntryNotFound for a file it does not have.
//   GET /cdn/{sha256}
//       the LFS bytes, Range honoured (206 + Content-Range), no credentials expected.
//
// Faults on demand: a CDN answer cut off (the connection closed after half of
// the bytes asked for), one that pauses, a file served with one byte flipped. Every request is
// logged (method, path, Range, Authorization).
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace ia::test {

std::string sha256_hex(const std::string& bytes);
std::string git_blob_sha1_hex(const std::string& bytes);

class FakeHub {
 public:
  struct File {
    std::string bytes;
    bool lfs = false;
  };
  struct Request {
    std::string method, path, range, authorization;
  };

  FakeHub(std::string repo, std::string commit, std::map<std::string, File> files);
  ~FakeHub();
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  std::string url() const;
  const std::string& commit() const { return commit_; }
  const std::map<std::string, File>& files() const { return files_; }

  // The next `times` CDN answers stop after half of the bytes asked for.
  void cut_lfs(int times);
  // The next CDN answer waits `pause` after its first piece of bytes.
  void pause_lfs(std::chrono::milliseconds pause);
  // `file` is served with one byte flipped; its ETag stays the true hash.
  void corrupt(const std::string& file);

  std::vector<Request> requests() const;
  void clear_requests();

 private:
  void log(const std::string& method, const std::string& path, const std::string& range, const std::string& auth);
  std::string repo_, commit_;
  std::map<std::string, File> files_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  int cuts_left_ = 0;
  std::chrono::milliseconds pause_{};
  std::string corrupt_;
  std::vector<Request> requests_;
};

// The files of a fixture model folder (relative paths), LFS for *.safetensors.
std::map<std::string, FakeHub::File> fixture_files(const std::string& folder);

}  // namespace ia::test
