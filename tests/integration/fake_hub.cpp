#include "integration/fake_hub.h"

#include <openssl/evp.h>

#include <httplib.h>

#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"

namespace ia::test {

namespace {

std::string digest_hex(const EVP_MD* md, const std::string& prefix, const std::string& bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, md, nullptr);
  EVP_DigestUpdate(ctx, prefix.data(), prefix.size());
  EVP_DigestUpdate(ctx, bytes.data(), bytes.size());
  EVP_DigestFinal_ex(ctx, out, &len);
  EVP_MD_CTX_free(ctx);
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s += digits[out[i] >> 4];
    s += digits[out[i] & 15];
  }
  return s;
}

std::string lfs_pointer(const std::string& bytes) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha256_hex(bytes) + "\nsize " +
         std::to_string(bytes.size()) + "\n";
}

// The bytes from the Range's start (0 without one) to the end, in pieces; with
// `cut`, the connection is dropped after half of them; with a `pause`, the
// pieces after the first wait that long (a slow transfer).
void serve_bytes(const httplib::Request& req, httplib::Response& res, std::string data, bool cut,
                 std::chrono::milliseconds pause = {}) {
  size_t start = 0;
  if (!req.ranges.empty() && req.ranges[0].first > 0) start = static_cast<size_t>(req.ranges[0].first);
  const size_t stop = cut ? start + (data.size() - std::min(start, data.size())) / 2 : data.size();
  auto bytes = std::make_shared<std::string>(std::move(data));
  auto paused = std::make_shared<bool>(pause.count() == 0);
  res.set_content_provider(bytes->size(), "application/octet-stream",
                           [bytes, stop, pause, paused, start](size_t offset, size_t length, httplib::DataSink& sink) {
                             if (offset >= stop) return false;  // cut: the connection closes here
                             if (offset > start && !*paused) {
                               std::this_thread::sleep_for(pause);
                               *paused = true;
                             }
                             const size_t n = std::min({length, size_t{16384}, stop - offset});
                             return sink.write(bytes->data() + offset, n);
                           });
}

}  // namespace

std::string sha256_hex(const std::string& bytes) {
  return digest_hex(EVP_sha256(), "", bytes);
}

std::string git_blob_sha1_hex(const std::string& bytes) {
  return digest_hex(EVP_sha1(), "blob " + std::to_string(bytes.size()) + std::string(1, '\0'), bytes);
}

FakeHub::FakeHub(std::string repo, std::string commit, std::map<std::string, File> files)
    : repo_(std::move(repo)), commit_(std::move(commit)), files_(std::move(files)), http_(new httplib::Server) {
  http_->Get(R"(/api/models/([^/]+)/([^/]+)/revision/(.+))", [this](const httplib::Request& req,
                                                                    httplib::Response& res) {
    log(req.method, req.path, req.get_header_value("Range"), req.get_header_value("Authorization"));
    if (req.matches[1].str() + "/" + req.matches[2].str() != repo_) {
      res.status = 401;  // as the hub answers for a repository it does not show this client
      res.set_header("X-Error-Code", "RepoNotFound");
      res.set_content(R"({"error":"Repository not found"})", "application/json");
      return;
    }
    const std::string rev = req.matches[3];
    if (rev != "main" && rev != commit_) {
      res.status = 404;
      res.set_header("X-Error-Code", "RevisionNotFound");
      res.set_content(R"({"error":"Invalid rev id"})", "application/json");
      return;
    }
    const bool blobs = req.get_param_value("blobs") == "true" || req.get_param_value("blobs") == "True";
    nlohmann::json siblings = nlohmann::json::array();
    for (const auto& [name, f] : files_) {
      nlohmann::json s{{"rfilename", name}};
      if (blobs) {
        s["size"] = f.bytes.size();
        s["blobId"] = git_blob_sha1_hex(f.lfs ? lfs_pointer(f.bytes) : f.bytes);
        if (f.lfs)
          s["lfs"] = {
              {"sha256", sha256_hex(f.bytes)}, {"size", f.bytes.size()}, {"pointerSize", lfs_pointer(f.bytes).size()}};
      }
      siblings.push_back(s);
    }
    res.set_content(nlohmann::json{{"id", repo_}, {"sha", commit_}, {"siblings", siblings}}.dump(), "application/json");
  });
  http_->Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    log(req.method, req.path, req.get_header_value("Range"), req.get_header_value("Authorization"));
    const std::string rev = req.matches[3], name = req.matches[4];
    auto it = files_.find(name);
    if (req.matches[1].str() + "/" + req.matches[2].str() != repo_ || (rev != "main" && rev != commit_) ||
        it == files_.end()) {
      res.status = 404;
      res.set_header("X-Error-Code", "EntryNotFound");
      return;
    }
    res.set_header("X-Repo-Commit", commit_);
    const File& f = it->second;
    if (f.lfs) {
      const std::string sum = sha256_hex(f.bytes);
      res.set_header("X-Linked-Etag", "\"" + sum + "\"");
      res.set_header("X-Linked-Size", std::to_string(f.bytes.size()));
      res.set_header("ETag", "\"" + git_blob_sha1_hex(lfs_pointer(f.bytes)) + "\"");
      res.set_redirect("http://localhost:" + std::to_string(port_) + "/cdn/" + sum, 302);
      return;
    }
    res.set_header("ETag", "\"" + git_blob_sha1_hex(f.bytes) + "\"");
    std::string bytes = f.bytes;
    {
      std::lock_guard lock(mu_);
      if (corrupt_ == name && !bytes.empty()) bytes[bytes.size() / 2] ^= 0x5a;
    }
    serve_bytes(req, res, std::move(bytes), false);
  });
  http_->Get(R"(/cdn/([0-9a-f]{64}))", [this](const httplib::Request& req, httplib::Response& res) {
    log(req.method, req.path, req.get_header_value("Range"), req.get_header_value("Authorization"));
    for (const auto& [name, f] : files_) {
      if (!f.lfs || sha256_hex(f.bytes) != req.matches[1].str()) continue;
      std::string bytes = f.bytes;
      bool cut = false;
      std::chrono::milliseconds pause{};
      {
        std::lock_guard lock(mu_);
        if (corrupt_ == name) bytes[bytes.size() / 2] ^= 0x5a;
        if (req.method == "GET" && cuts_left_ > 0) {
          --cuts_left_;
          cut = true;
        }
        if (req.method == "GET") std::swap(pause, pause_);
      }
      serve_bytes(req, res, std::move(bytes), cut, pause);
      return;
    }
    res.status = 404;
  });
  port_ = http_->bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  while (!http_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

FakeHub::~FakeHub() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakeHub::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

void FakeHub::cut_lfs(int times) {
  std::lock_guard lock(mu_);
  cuts_left_ = times;
}

void FakeHub::pause_lfs(std::chrono::milliseconds pause) {
  std::lock_guard lock(mu_);
  pause_ = pause;
}

void FakeHub::corrupt(const std::string& file) {
  std::lock_guard lock(mu_);
  corrupt_ = file;
}

std::vector<FakeHub::Request> FakeHub::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void FakeHub::clear_requests() {
  std::lock_guard lock(mu_);
  requests_.clear();
}

void FakeHub::log(const std::string& method, const std::string& path, const std::string& range,
                  const std::string& auth) {
  std::lock_guard lock(mu_);
  requests_.push_back({method, path, range, auth});
}

std::map<std::string, FakeHub::File> fixture_files(const std::string& folder) {
  namespace fs = std::filesystem;
  std::map<std::string, FakeHub::File> out;
  for (const auto& e : fs::recursive_directory_iterator(folder)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), folder).generic_string();
    out[rel] = {read_file(e.path().string()), e.path().extension() == ".safetensors"};
  }
  return out;
}

}  // namespace ia::test
