#include "hub/download.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace ia::hub {

namespace fs = std::filesystem;

namespace {

class Digest {
 public:
  explicit Digest(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_, md, nullptr) != 1) fail(ErrorKind::Internal, "cannot start a digest");
  }
  ~Digest() { EVP_MD_CTX_free(ctx_); }
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void update(const void* p, size_t n) {
    if (EVP_DigestUpdate(ctx_, p, n) != 1) fail(ErrorKind::Internal, "digest update failed");
  }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_DigestFinal_ex(ctx_, out, &len) != 1) fail(ErrorKind::Internal, "digest final failed");
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < len; ++i) {
      s += digits[out[i] >> 4];
      s += digits[out[i] & 15];
    }
    return s;
  }

 private:
  EVP_MD_CTX* ctx_;
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Feeds `file`'s bytes to `d`; false on a read error.
bool hash_file(Digest& d, const fs::path& file) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return false;
  std::string buf(1 << 20, '\0');
  while (true) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    d.update(buf.data(), static_cast<size_t>(n));
  }
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool is_lower_hex(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The ETag header as a file name: W/ and the quotes dropped (huggingface_hub's _normalize_etag).
std::string normalize_etag(std::string e) {
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  while (!e.empty() && e.front() == '"') e.erase(e.begin());
  while (!e.empty() && e.back() == '"') e.pop_back();
  return e;
}

bool usable_etag(const std::string& e) {
  if (e.empty() || e.size() > 128 || e.front() == '.') return false;
  for (char c : e)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

std::optional<uint64_t> parse_u64(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// "bytes START-END/TOTAL" (TOTAL may be "*").
struct ContentRange {
  uint64_t start = 0;
  std::optional<uint64_t> total;
};
std::optional<ContentRange> parse_content_range(const std::string& h) {
  if (h.rfind("bytes ", 0) != 0) return std::nullopt;
  const size_t dash = h.find('-', 6), slash = h.find('/', 6);
  if (dash == std::string::npos || slash == std::string::npos || slash < dash) return std::nullopt;
  auto start = parse_u64(h.substr(6, dash - 6));
  if (!start || !parse_u64(h.substr(dash + 1, slash - dash - 1))) return std::nullopt;
  ContentRange cr{*start, parse_u64(h.substr(slash + 1))};
  return cr;
}

// Holds an exclusive flock on the path while alive: two processes (this one,
// huggingface_hub's filelock) never write the same blob at once.
class BlobLock {
 public:
  explicit BlobLock(const fs::path& file) {
    fs::create_directories(file.parent_path());
    fd_.reset(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (fd_.get() < 0 || ::flock(fd_.get(), LOCK_EX) != 0)
      fail(ErrorKind::Unavailable, "{}: cannot lock: {}", file.string(), std::strerror(errno));
  }

 private:
  Fd fd_;
};

bool transient_status(long s) {
  return s == 0 || s == 408 || s == 429 || s >= 500;
}

void backoff(int attempt) {
  std::this_thread::sleep_for(std::chrono::milliseconds(500 * attempt));
}

std::string human_bytes(uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.1f} GB", static_cast<double>(b) / 1e9);
  if (b >= (1ull << 20)) return fmt::format("{:.1f} MB", static_cast<double>(b) / 1e6);
  return fmt::format("{} bytes", b);
}

}  // namespace

struct Downloader::Target {
  std::string file, etag, url;  // url: where the bytes are (the resolve URL or the CDN's)
  std::optional<uint64_t> size;
  uint64_t cap = 0;
};

Downloader::Downloader(const HubSettings& settings, const std::string& repo)
    : settings_(settings),
      repo_(repo),
      origin_(url_origin(settings.endpoint)),
      cache_(settings.cache_dir, repo),
      http_(settings.stall_timeout_s) {
  if (origin_.empty()) fail(ErrorKind::InvalidArgument, "HF_ENDPOINT {} is not a URL", redact_url(settings.endpoint));
}

std::vector<std::string> Downloader::headers_for(const std::string& url) const {
  std::vector<std::string> h;
  // The token is the hub's: a redirect to another host (the CDN) never sees it.
  if (!settings_.token.empty() && url_origin(url) == origin_) h.push_back("Authorization: Bearer " + settings_.token);
  return h;
}

namespace {

[[noreturn]] void status_failure(const HttpResponse& r, const std::string& what, const std::string& endpoint) {
  const std::string code = r.header("x-error-code");
  if (code == "GatedRepo")
    fail(ErrorKind::NotFound, "{}: the repository is gated: accept its conditions on {} and set HF_TOKEN", what,
         endpoint);
  if (r.status == 401 || code == "RepoNotFound")
    fail(ErrorKind::NotFound,
         "{}: not found on {} (HTTP {}; a private or gated repository needs HF_TOKEN set to a token with access)", what,
         endpoint, r.status);
  if (code == "RevisionNotFound") fail(ErrorKind::NotFound, "{}: no such revision on {}", what, endpoint);
  if (code == "EntryNotFound" || r.status == 404) fail(ErrorKind::NotFound, "{}: not found on {}", what, endpoint);
  if (r.status == 403)
    fail(ErrorKind::Unavailable, "{}: access denied by {} (HTTP 403; check HF_TOKEN)", what, endpoint);
  fail(ErrorKind::Unavailable, "{}: HTTP {} from {}", what, r.status, endpoint);
}

}  // namespace

std::string Downloader::model_info_json(const std::string& revision) {
  const std::string what = repo_ + (revision == "main" ? "" : "@" + revision);
  const std::string endpoint = redact_url(settings_.endpoint);
  const std::string url =
      settings_.endpoint + "/api/models/" + repo_ + "/revision/" + url_encode(revision, false) + "?blobs=true";
  for (int attempt = 1;; ++attempt) {
    std::string body, err, at = url;
    bool too_large = false;
    HttpResponse r;
    for (int hop = 0;; ++hop) {
      body.clear();
      r = http_.request(
          "GET", at, headers_for(at),
          [&](const HttpResponse&, const char* p, size_t n) {
            if (body.size() + n > kMaxModelInfoBytes) return !(too_large = true);
            body.append(p, n);
            return true;
          },
          err);
      // A renamed repository answers with a redirect on the hub itself.
      if (!err.empty() || r.status < 300 || r.status >= 400 || r.location.empty()) break;
      if (url_origin(r.location) != origin_)
        fail(ErrorKind::Unavailable, "{}: the hub's API redirected to another host ({})", what, redact_url(r.location));
      if (hop + 1 > kMaxRedirects) fail(ErrorKind::Unavailable, "{}: more than {} redirects", what, kMaxRedirects);
      at = r.location;
    }
    if (too_large)
      fail(ErrorKind::Corrupt, "{}: the hub's model listing is larger than {} bytes", what, kMaxModelInfoBytes);
    if (err.empty() && r.status >= 200 && r.status < 300) return body;
    if (err.empty() && !transient_status(r.status)) status_failure(r, what, endpoint);
    if (attempt == kDownloadAttempts)
      fail(ErrorKind::Unavailable, "{}: cannot reach {}: {}", what, endpoint,
           err.empty() ? fmt::format("HTTP {}", r.status) : err);
    backoff(attempt);
  }
}

HttpResponse Downloader::head(const std::string& url, std::string& final_url) {
  std::string at = url;
  for (int attempt = 1;; ++attempt) {
    std::string err;
    HttpResponse r;
    for (int hop = 0;; ++hop) {
      r = http_.request(
          "HEAD", at, headers_for(at), [](const HttpResponse&, const char*, size_t) { return true; }, err);
      if (!err.empty() || r.status < 300 || r.status >= 400) break;
      // Only a relative redirect (a renamed repository) is followed here; an
      // absolute one points at the file's bytes (the CDN) and is the answer.
      const std::string raw = r.header("location");
      const bool relative = !raw.empty() && raw.find("://") == std::string::npos && raw.rfind("//", 0) != 0;
      if (!relative || r.location.empty()) break;
      if (hop + 1 > kMaxRedirects)
        fail(ErrorKind::Unavailable, "{}: more than {} redirects", redact_url(url), kMaxRedirects);
      at = r.location;
    }
    if (err.empty() && !transient_status(r.status)) {
      final_url = at;
      return r;
    }
    if (attempt == kDownloadAttempts)
      fail(ErrorKind::Unavailable, "{}: cannot reach {}: {}", redact_url(url), redact_url(settings_.endpoint),
           err.empty() ? fmt::format("HTTP {}", r.status) : err);
    backoff(attempt);
  }
}

Downloader::Target Downloader::locate(const std::string& commit, const RepoFile& file) {
  const std::string what = fmt::format("{}: {}", repo_, file.name);
  const std::string url = settings_.endpoint + "/" + repo_ + "/resolve/" + commit + "/" + url_encode(file.name, true);
  std::string at;
  const HttpResponse r = head(url, at);
  const bool redirect = r.status >= 300 && r.status < 400;
  if (!(r.status >= 200 && r.status < 300) && !redirect) status_failure(r, what, redact_url(settings_.endpoint));
  if (redirect && r.location.empty()) fail(ErrorKind::Corrupt, "{}: the hub redirected without a Location", what);
  const std::string repo_commit = r.header("x-repo-commit");
  if (!repo_commit.empty() && repo_commit != commit)
    fail(ErrorKind::Corrupt, "{}: asked for commit {}, the hub answered for {}", what, commit, repo_commit);
  Target t;
  t.file = file.name;
  const std::string linked = r.header("x-linked-etag");
  t.etag = normalize_etag(linked.empty() ? r.header("etag") : linked);
  if (t.etag.empty())
    fail(ErrorKind::Corrupt, "{}: the hub sent no ETag, so the file can be neither cached nor verified", what);
  if (!usable_etag(t.etag)) fail(ErrorKind::Corrupt, "{}: the hub sent an unusable ETag", what);
  if (!file.lfs_sha256.empty() && t.etag != file.lfs_sha256)
    fail(ErrorKind::Corrupt, "{}: the ETag {} is not the sha256 {} the hub listed", what, t.etag, file.lfs_sha256);
  if (!linked.empty())
    t.size = parse_u64(r.header("x-linked-size"));
  else if (!redirect)
    t.size = parse_u64(r.header("content-length"));
  if (t.size && file.size && *t.size != *file.size)
    fail(ErrorKind::Corrupt, "{}: the hub announced {} bytes, then {}", what, *file.size, *t.size);
  if (!t.size) t.size = file.size;
  t.cap = file.weights() ? kMaxWeightFileBytes : kMaxSmallFileBytes;
  if (t.size && *t.size > t.cap)
    fail(ErrorKind::Corrupt, "{}: {} bytes, over the limit of {} for such a file", what, *t.size, t.cap);
  t.url = redirect ? r.location : at;
  return t;
}

// One GET of the rest of the file into `incomplete`. True when the file is
// complete; false (with `why`) for a failure the next attempt may overcome.
// The first attempt starts `progress` at what an earlier run left.
bool Downloader::transfer(const Target& t, const std::string& incomplete, uint64_t& got, std::string& why,
                          std::optional<ProgressTask>& progress) {
  const std::string what = fmt::format("{}: {}", repo_, t.file);
  std::error_code ec;
  uint64_t offset = fs::exists(incomplete, ec) ? fs::file_size(incomplete, ec) : 0;
  if (ec) offset = 0;
  if (t.size && offset > *t.size) {
    fs::remove(incomplete, ec);
    offset = 0;
  }
  if (t.size && offset == *t.size && offset > 0) return true;  // an earlier run got every byte
  if (!progress)
    progress.emplace(fmt::format("downloading {}: {}", repo_, t.file), t.size.value_or(0), ProgressUnit::Bytes, offset);
  else
    progress->set_done(offset);

  Fd fd;
  uint64_t written = 0;
  bool opened = false, overflow = false, io_error = false;
  std::string bad_range;
  auto on_body = [&](const HttpResponse& h, const char* p, size_t n) {
    if (!opened) {
      if (h.status == 206) {
        auto cr = parse_content_range(h.header("content-range"));
        if (!cr || cr->start != offset || (t.size && cr->total && *cr->total != *t.size)) {
          bad_range = h.header("content-range");
          return false;
        }
        fd.reset(::open(incomplete.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
      } else if (h.status == 200) {
        offset = 0;  // the whole file came back, not the rest: start over
        fd.reset(::open(incomplete.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      } else {
        return false;
      }
      if (fd.get() < 0) return !(io_error = true);
      opened = true;
    }
    const uint64_t limit = t.size ? *t.size : t.cap;
    if (offset + written + n > limit) return !(overflow = true);
    if (!write_all(fd.get(), p, n)) return !(io_error = true);
    written += n;
    got += n;
    progress->set_done(offset + written);
    return true;
  };

  std::string at = t.url, err;
  HttpResponse r;
  for (int hop = 0;; ++hop) {
    std::vector<std::string> headers = headers_for(at);
    if (offset > 0) headers.push_back(fmt::format("Range: bytes={}-", offset));
    r = http_.request("GET", at, headers, on_body, err);
    if (!err.empty() || r.status < 300 || r.status >= 400 || r.location.empty()) break;
    if (hop + 1 > kMaxRedirects) fail(ErrorKind::Unavailable, "{}: more than {} redirects", what, kMaxRedirects);
    at = r.location;
  }
  if (fd.get() >= 0 && ::fsync(fd.get()) != 0) io_error = true;
  fd.reset();
  if (io_error) fail(ErrorKind::Unavailable, "{}: cannot write {}: {}", what, incomplete, std::strerror(errno));
  if (overflow) {
    fs::remove(incomplete, ec);
    fail(ErrorKind::Corrupt, "{}: the server sent more than the {} bytes announced; refused", what,
         t.size.value_or(t.cap));
  }
  if (!bad_range.empty() || r.status == 416) {
    fs::remove(incomplete, ec);  // the server does not resume this file as asked: the next attempt starts over
    why = bad_range.empty() ? "the server refused to resume (HTTP 416)" : "a resumed answer for the wrong range";
    return false;
  }
  if (!err.empty()) {
    why = err;
    return false;
  }
  if (transient_status(r.status)) {
    why = fmt::format("HTTP {}", r.status);
    return false;
  }
  if (r.status < 200 || r.status >= 300) status_failure(r, what, redact_url(settings_.endpoint));
  if (!opened) {  // an empty file: no body came
    Fd empty(::open(incomplete.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (empty.get() < 0) fail(ErrorKind::Unavailable, "{}: cannot write {}", what, incomplete);
    offset = 0;
  }
  if (t.size && offset + written < *t.size) {
    why = fmt::format("the connection closed after {} of {} bytes", offset + written, *t.size);
    return false;
  }
  return true;
}

uint64_t Downloader::fetch(const std::string& commit, const RepoFile& file) {
  const Target t = locate(commit, file);
  const fs::path blob = cache_.blob(t.etag);
  std::error_code ec;
  if (!fs::is_regular_file(blob, ec)) {
    fs::create_directories(blob.parent_path());
    BlobLock lock(cache_.lock_file(t.etag));
    if (!fs::is_regular_file(blob, ec)) {  // not finished by another process meanwhile
      const std::string incomplete = blob.string() + ".incomplete";
      uint64_t got = 0;
      std::string why;
      std::optional<ProgressTask> progress;  // ended as abandoned by an error, before its line is printed
      for (int attempt = 1;; ++attempt) {
        if (transfer(t, incomplete, got, why, progress)) break;
        if (attempt == kDownloadAttempts) {
          const uint64_t kept = fs::exists(incomplete, ec) ? fs::file_size(incomplete, ec) : 0;
          fail(ErrorKind::Unavailable, "{}: downloading {} failed: {}; {} received are kept and the next run resumes",
               repo_, t.file, why, human_bytes(kept));
        }
        spdlog::info("{}: {}: {}; retrying", repo_, t.file, why);
        backoff(attempt);
      }
      // The ETag is the content's hash: an LFS file's sha256, a git file's blob sha1.
      const uint64_t size = fs::file_size(incomplete, ec);
      std::string actual;
      if (is_lower_hex(t.etag, 64)) {
        Digest d(EVP_sha256());
        if (hash_file(d, incomplete)) actual = d.hex();
      } else if (is_lower_hex(t.etag, 40)) {
        Digest d(EVP_sha1());
        const std::string header = fmt::format("blob {}", size);
        d.update(header.data(), header.size() + 1);  // with its NUL
        if (hash_file(d, incomplete)) actual = d.hex();
      } else {
        actual = t.etag;
        spdlog::warn("{}: {}: the ETag is not a content hash; the file is not verified", repo_, t.file);
      }
      if (actual != t.etag) {
        fs::remove(incomplete, ec);
        fail(ErrorKind::Corrupt,
             "{}: {}: the downloaded bytes do not match the hub's hash ({} expected, {} received); refused and "
             "deleted",
             repo_, t.file, t.etag, actual.empty() ? "unreadable" : actual);
      }
      fs::rename(incomplete, blob, ec);
      if (ec) fail(ErrorKind::Unavailable, "{}: cannot rename into place: {}", blob.string(), ec.message());
      if (progress) {
        progress->set_done(size);
        progress->finish();
      }
      cache_.link(commit, file.name, t.etag);
      return got;
    }
  }
  cache_.link(commit, file.name, t.etag);
  return 0;
}

}  // namespace ia::hub
