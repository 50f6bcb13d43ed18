#include "router/s3_model_push.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"
#include "core/logging.h"
#include "core/progress.h"
#include "providers/provider_error.h"
#include "providers/sigv4.h"
#include "router/s3_model_source.h"
#include "router/s3_upload_state.h"

namespace ia::router {

namespace fs = std::filesystem;

namespace {

constexpr const char* kShaMeta = "sha256";  // stored as x-amz-meta-sha256
constexpr size_t kMaxParts = 10000;

// fn(i) for every i in [0, n), on up to `threads` threads. The first failure stops handing out
// work; it is rethrown once the calls already running have returned.
void parallel_each(size_t n, int threads, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first;
  std::mutex mu;
  auto worker = [&] {
    while (!failed.load()) {
      const size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard lock(mu);
        if (!first) first = std::current_exception();
        failed = true;
      }
    }
  };
  const size_t count = std::min(n, static_cast<size_t>(std::max(1, threads)));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < count; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (first) std::rethrow_exception(first);
}

// Bytes [offset, offset + length) of a file.
std::string read_range(const fs::path& path, uint64_t offset, size_t length) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::NotFound, "{}: cannot open", path.string());
  std::string out(length, '\0');
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(out.data(), static_cast<std::streamsize>(length));
  if (static_cast<size_t>(in.gcount()) != length)
    fail(ErrorKind::Unavailable, "{}: changed while it was pushed (shorter than when it was hashed)", path.string());
  return out;
}

std::string unquoted(std::string etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

// Whether the object `head` describes holds the bytes of `f` (at `path`).
bool same_object(const providers::S3Head& head, const ipfs::ManifestFile& f, const fs::path& path, size_t part_size) {
  if (head.size != f.size) return false;
  if (auto it = head.metadata.find(kShaMeta); it != head.metadata.end()) return it->second == f.sha256;
  // Uploaded by another tool: a single-part object's ETag is the MD5 of its bytes.
  const std::string etag = unquoted(head.etag);
  if (etag.size() != 32 || f.size > part_size) return false;
  return providers::hex(providers::md5_raw(read_range(path, 0, static_cast<size_t>(f.size)))) == etag;
}

// The part size for a file: `part_size`, doubled until the file needs at most 10,000 parts.
size_t part_size_for(uint64_t size, size_t part_size) {
  size_t ps = part_size;
  while ((size + ps - 1) / ps > kMaxParts) ps *= 2;
  return ps;
}

// The part numbers (1-based) of a file of `size` bytes in parts of `part_size`, and part n's size.
uint64_t part_bytes(uint64_t size, size_t part_size, int n) {
  const uint64_t offset = static_cast<uint64_t>(n - 1) * part_size;
  return std::min<uint64_t>(part_size, size - offset);
}

// Sends the parts of `st`'s upload that it does not have yet, `concurrency` at a time, saving the
// state after each one the store acknowledged; then completes the upload and forgets the state.
void finish_upload(providers::S3Client& c, S3UploadState& st, const S3UploadStateFile& state_file, const fs::path& path,
                   int concurrency, ProgressTask& task) {
  const int nparts = static_cast<int>((st.size + st.part_size - 1) / st.part_size);
  std::vector<int> missing;
  for (int n = 1; n <= nparts; ++n)
    if (!st.parts.count(n)) missing.push_back(n);
  std::mutex mu;
  parallel_each(missing.size(), concurrency, [&](size_t i) {
    const int n = missing[i];
    const std::string body = read_range(path, static_cast<uint64_t>(n - 1) * st.part_size,
                                        static_cast<size_t>(part_bytes(st.size, st.part_size, n)));
    const std::string etag = c.upload_part(st.bucket, st.key, st.upload_id, n, body);
    {
      std::lock_guard lock(mu);
      st.parts[n] = etag;
      state_file.save(st);
    }
    task.advance(body.size());
  });
  std::vector<std::string> etags;
  for (int n = 1; n <= nparts; ++n) etags.push_back(st.parts.at(n));
  c.complete_multipart(st.bucket, st.key, st.upload_id, etags);
  state_file.remove();
}

// The client of the endpoint labelled `label`, or null when the pool has none such.
providers::S3Client* client_labelled(providers::S3Pool& pool, const std::string& label) {
  for (size_t i = 0; i < pool.size(); ++i)
    if (pool.client(i).endpoint().label() == label) return &pool.client(i);
  return nullptr;
}

// Forgets an earlier upload's state, aborting the upload where it can (so the store frees its parts).
void discard(providers::S3Pool& pool, const S3UploadState& st, const S3UploadStateFile& state_file) {
  if (providers::S3Client* c = client_labelled(pool, st.endpoint)) {
    try {
      c->abort_multipart(st.bucket, st.key, st.upload_id);
    } catch (const std::exception& e) {  // already gone (NoSuchUpload), or the store refuses: not this push's failure
      spdlog::debug("s3://{}/{}: the earlier upload {} was not aborted: {}", st.bucket, st.key, st.upload_id, e.what());
    }
  } else {
    spdlog::warn(
        "s3://{}/{}: the earlier upload {} was on endpoint {}, which is not configured now; it stays in that "
        "store until aborted or expired",
        st.bucket, st.key, st.upload_id, st.endpoint);
  }
  state_file.remove();
}

// Uploads a large file as a multipart upload that survives an interrupted push: when the state of
// an earlier push of this very file (same size, modification time, sha256 and part size) names an
// upload its endpoint still has, ListParts says which of the recorded parts the store holds (same
// number, ETag and size), and only the others are sent; a stale state (the file changed, the
// upload is gone: NoSuchUpload) is discarded and the upload starts over. A failure leaves the
// upload and its state for the next push to resume. Returns the parts that were already stored.
int upload_multipart(providers::S3Pool& pool, const std::string& bucket, const std::string& key, const fs::path& path,
                     const ipfs::ManifestFile& f, size_t part_size, int concurrency, ProgressTask& task,
                     const fs::path& state_home) {
  const uint64_t nparts = (f.size + part_size - 1) / part_size;
  const int64_t mtime = file_mtime_ns(path);
  const uint64_t done_at_start = task.done();
  const S3UploadStateFile state_file(bucket, key, state_home);
  auto explain = [&](const S3UploadState& st) {
    // The same failure, saying what became of the upload (the class kept: the pool benches by it).
    try {
      throw;
    } catch (const providers::ProviderError& e) {
      throw providers::ProviderError(e.failure(), e.status(),
                                     fmt::format("{} ({} of {} parts are stored; push again to resume the upload)",
                                                 e.what(), st.parts.size(), nparts),
                                     e.retry_after());
    }
  };
  if (std::optional<S3UploadState> prior = state_file.load()) {
    providers::S3Client* c = client_labelled(pool, prior->endpoint);
    const bool same_file = prior->bucket == bucket && prior->key == key && prior->size == f.size &&
                           prior->mtime_ns == mtime && prior->sha256 == f.sha256 && prior->part_size == part_size;
    if (c && same_file) {
      try {
        std::map<int, std::string> stored;
        for (const auto& p : c->list_parts(bucket, key, prior->upload_id)) {
          auto it = prior->parts.find(p.number);
          if (it != prior->parts.end() && p.number <= static_cast<int>(nparts) &&
              unquoted(it->second) == unquoted(p.etag) && p.size == part_bytes(f.size, part_size, p.number))
            stored[p.number] = it->second;
        }
        prior->parts = std::move(stored);
        state_file.save(*prior);
        const int resumed = static_cast<int>(prior->parts.size());
        uint64_t resumed_bytes = 0;
        for (const auto& [n, etag] : prior->parts) resumed_bytes += part_bytes(f.size, part_size, n);
        task.advance(resumed_bytes);
        spdlog::info("s3://{}/{}: resuming upload {} ({} of {} parts already stored)", bucket, key, prior->upload_id,
                     resumed, nparts);
        try {
          finish_upload(*c, *prior, state_file, path, concurrency, task);
        } catch (const Error& e) {
          if (e.kind() == ErrorKind::NotFound) throw;  // the upload went away meanwhile: start over below
          explain(*prior);
          throw;
        }
        return resumed;
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::NotFound) throw;
        spdlog::info("s3://{}/{}: the earlier upload {} is gone from the store ({}); starting over", bucket, key,
                     prior->upload_id, e.what());
        task.set_done(done_at_start);
        state_file.remove();
      }
    } else {
      discard(pool, *prior, state_file);
    }
  }
  const uint64_t done_before = task.done();
  pool.with_endpoint([&](providers::S3Client& c) {
    task.set_done(done_before);  // a second endpoint starts the file again
    // An upload an earlier endpoint began in this push is not resumed elsewhere: aborted.
    if (std::optional<S3UploadState> earlier = state_file.load()) discard(pool, *earlier, state_file);
    S3UploadState st;
    st.endpoint = c.endpoint().label();
    st.bucket = bucket;
    st.key = key;
    st.size = f.size;
    st.mtime_ns = mtime;
    st.sha256 = f.sha256;
    st.part_size = part_size;
    st.upload_id = c.create_multipart(bucket, key, {{kShaMeta, f.sha256}});
    state_file.save(st);
    try {
      finish_upload(c, st, state_file, path, concurrency, task);
    } catch (const providers::ProviderError&) {
      explain(st);
    }
  });
  return 0;
}

}  // namespace

S3PushResult push_model_folder(const std::string& dir, const std::string& url, providers::S3Pool& pool,
                               const S3PushOptions& options) {
  if (options.part_size < kMinPushPartSize || options.part_size > kMaxPushPartSize)
    fail(ErrorKind::InvalidArgument, "--part-size: expected 5 MiB to 5 GiB (S3's part sizes), not {} bytes",
         options.part_size);
  if (options.concurrency < 1 || options.concurrency > 64)
    fail(ErrorKind::InvalidArgument, "--concurrency: expected 1 to 64, not {}", options.concurrency);
  S3PushResult r;
  r.url = url;
  std::tie(r.bucket, r.prefix) = parse_s3_model_url(url);
  for (size_t i = 0; i < pool.size(); ++i) {
    const providers::S3Endpoint& e = pool.client(i).endpoint();
    if (!e.has_credentials() || e.credentials.secret_access_key.empty())
      fail(ErrorKind::InvalidArgument,
           "no S3 credentials for {}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name the endpoint's keys in "
           "the providers file's \"s3\" section",
           e.label());
  }
  const fs::path root(dir);
  const std::vector<std::string> files = ipfs::folder_files(root, &r.skipped);
  if (files.empty())
    fail(ErrorKind::InvalidArgument, "{}: no files to push ({} hidden or temporary names skipped)", dir,
         r.skipped.size());
  const ipfs::FolderManifest manifest = ipfs::build_folder_manifest(root, files);
  r.cid = manifest.cid;
  const std::string manifest_text = ipfs::folder_manifest_json(manifest);
  const std::string manifest_sha = providers::sha256_hex(manifest_text);
  const std::string list_prefix = r.prefix + "/";
  r.manifest_key = list_prefix + ipfs::kFolderManifestName;

  // What the store holds: one listing, then a HEAD for each file of the same size (its sha256).
  std::map<std::string, uint64_t> stored;
  for (const auto& o : pool.with_endpoint([&](providers::S3Client& c) { return c.list(r.bucket, list_prefix); }))
    stored[o.key] = o.size;
  for (const auto& [key, size] : stored)
    if (key != r.manifest_key && key.back() != '/' && !manifest.find(key.substr(list_prefix.size())))
      r.not_in_folder.push_back(key);
  std::vector<char> unchanged(manifest.files.size(), 0);
  parallel_each(manifest.files.size(), options.concurrency, [&](size_t i) {
    const ipfs::ManifestFile& f = manifest.files[i];
    auto it = stored.find(list_prefix + f.path);
    if (options.force || it == stored.end() || it->second != f.size) return;
    try {
      const providers::S3Head head =
          pool.with_endpoint([&](providers::S3Client& c) { return c.head(r.bucket, it->first); });
      unchanged[i] = same_object(head, f, root / f.path, options.part_size);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::NotFound) throw;  // deleted since the listing
    }
  });
  bool manifest_current = false;
  if (!options.force && stored.count(r.manifest_key)) {
    try {
      const providers::S3Head head =
          pool.with_endpoint([&](providers::S3Client& c) { return c.head(r.bucket, r.manifest_key); });
      auto it = head.metadata.find(kShaMeta);
      manifest_current = it != head.metadata.end() && it->second == manifest_sha && head.size == manifest_text.size();
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::NotFound) throw;
    }
  }
  std::vector<size_t> large, small;
  for (size_t i = 0; i < manifest.files.size(); ++i) {
    const ipfs::ManifestFile& f = manifest.files[i];
    S3PushedFile p{f.path, f.size, false, 1};
    if (unchanged[i]) {
      r.unchanged.push_back(p);
      r.bytes_unchanged += f.size;
      continue;
    }
    if (f.size > options.part_size) {
      p.multipart = true;
      const size_t ps = part_size_for(f.size, options.part_size);
      p.parts = static_cast<int>((f.size + ps - 1) / ps);
      large.push_back(i);
    } else {
      small.push_back(i);
    }
    r.uploaded.push_back(p);
    r.bytes_uploaded += f.size;
  }
  if (options.dry_run) return r;

  if (!r.uploaded.empty() && stored.count(r.manifest_key)) {
    // From here until the new manifest is written, the prefix has none: a reader sees an upload
    // under way, never the old manifest over files it no longer describes.
    pool.with_endpoint([&](providers::S3Client& c) { c.remove(r.bucket, r.manifest_key); });
    manifest_current = false;
  }
  ProgressTask task(fmt::format("pushing {}", url), r.bytes_uploaded, ProgressUnit::Bytes);
  for (size_t i : large) {
    const ipfs::ManifestFile& f = manifest.files[i];
    const int resumed =
        upload_multipart(pool, r.bucket, list_prefix + f.path, root / f.path, f,
                         part_size_for(f.size, options.part_size), options.concurrency, task, options.state_home);
    for (auto& p : r.uploaded)
      if (p.path == f.path) p.resumed_parts = resumed;
  }
  parallel_each(small.size(), options.concurrency, [&](size_t n) {
    const ipfs::ManifestFile& f = manifest.files[small[n]];
    const std::string body = read_range(root / f.path, 0, static_cast<size_t>(f.size));
    if (providers::sha256_hex(body) != f.sha256)
      fail(ErrorKind::Unavailable, "{}: changed while it was pushed", (root / f.path).string());
    pool.with_endpoint([&](providers::S3Client& c) {
      c.put(r.bucket, list_prefix + f.path, body, {{kShaMeta, f.sha256}});
    });
    task.advance(body.size());
  });
  // Each object as the store now has it: the size sent and the sha256 it was given.
  std::vector<size_t> sent = large;
  sent.insert(sent.end(), small.begin(), small.end());
  parallel_each(sent.size(), options.concurrency, [&](size_t n) {
    const ipfs::ManifestFile& f = manifest.files[sent[n]];
    const providers::S3Head head =
        pool.with_endpoint([&](providers::S3Client& c) { return c.head(r.bucket, list_prefix + f.path); });
    auto it = head.metadata.find(kShaMeta);
    if (head.size != f.size || (it != head.metadata.end() && it->second != f.sha256))
      fail(ErrorKind::Corrupt,
           "s3://{}/{}{}: after upload the store has {} bytes{}, not the {} bytes sent; no manifest "
           "was written",
           r.bucket, list_prefix, f.path, head.size, it != head.metadata.end() ? " of another sha256" : "", f.size);
  });
  task.finish();
  if (!manifest_current) {
    pool.with_endpoint([&](providers::S3Client& c) {
      c.put(r.bucket, r.manifest_key, manifest_text, {{kShaMeta, manifest_sha}});
    });
    r.manifest_written = true;
  }
  return r;
}

}  // namespace ia::router
