#include "router/s3_upload_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/logging.h"
#include "ipfs/fs_blockstore.h"
#include "providers/sigv4.h"

namespace ia::router {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxStateBytes = 4u << 20;  // 10,000 parts of ~60 bytes each, with room

}  // namespace

int64_t file_mtime_ns(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

S3UploadStateFile::S3UploadStateFile(const std::string& bucket, const std::string& key, fs::path home) {
  if (home.empty()) home = ipfs::default_home();
  path_ = home / "s3-uploads" / (providers::sha256_hex(bucket + "/" + key).substr(0, 32) + ".json");
}

std::optional<S3UploadState> S3UploadStateFile::load() const {
  std::error_code ec;
  if (!fs::is_regular_file(path_, ec)) return std::nullopt;
  auto stale = [&](const std::string& why) -> std::optional<S3UploadState> {
    spdlog::warn("{}: {}; the upload starts over", path_.string(), why);
    return std::nullopt;
  };
  if (fs::file_size(path_, ec) > kMaxStateBytes) return stale("larger than an upload's state");
  std::ifstream in(path_, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  try {
    if (!j.is_object() || j.value("version", 0) != 1) return stale("not an upload state (version 1)");
    S3UploadState s;
    s.endpoint = j.at("endpoint").get<std::string>();
    s.bucket = j.at("bucket").get<std::string>();
    s.key = j.at("key").get<std::string>();
    s.upload_id = j.at("upload_id").get<std::string>();
    s.size = j.at("size").get<uint64_t>();
    s.mtime_ns = j.at("mtime_ns").get<int64_t>();
    s.sha256 = j.at("sha256").get<std::string>();
    s.part_size = j.at("part_size").get<uint64_t>();
    for (const auto& [n, etag] : j.at("parts").items()) {
      const int number = std::stoi(n);
      if (number < 1 || number > 10000) return stale("a part number outside 1..10000");
      s.parts[number] = etag.get<std::string>();
    }
    if (s.upload_id.empty()) return stale("no upload id");
    return s;
  } catch (const std::exception& e) {
    return stale(fmt::format("malformed ({})", e.what()));
  }
}

void S3UploadStateFile::save(const S3UploadState& s) const {
  nlohmann::json parts = nlohmann::json::object();
  for (const auto& [n, etag] : s.parts) parts[std::to_string(n)] = etag;
  const std::string text =
      nlohmann::json{{"version", 1},           {"endpoint", s.endpoint},   {"bucket", s.bucket},
                     {"key", s.key},           {"upload_id", s.upload_id}, {"size", s.size},
                     {"mtime_ns", s.mtime_ns}, {"sha256", s.sha256},       {"part_size", s.part_size},
                     {"parts", parts}}
          .dump(1) +
      "\n";
  std::error_code ec;
  fs::create_directories(path_.parent_path(), ec);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::string tmp = fmt::format("{}.tmp.{}.{:x}", path_.string(), ::getpid(), rng());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail(ErrorKind::Unavailable, "upload state {}: cannot create: {}", tmp, std::strerror(errno));
  auto give_up = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(ErrorKind::Unavailable, "upload state {}: {}: {}", path_.string(), what, std::strerror(err));
  };
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) give_up("cannot write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) give_up("cannot flush");
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(ErrorKind::Unavailable, "upload state {}: cannot rename into place: {}", path_.string(), std::strerror(err));
  }
}

void S3UploadStateFile::remove() const {
  std::error_code ec;
  fs::remove(path_, ec);
}

}  // namespace ia::router
