// `--model org/name[@revision]` and `pull` against a FAKE Hugging Face hub on
// loopback (fake_hub.h): the cache layout transformers shares, a complete
// cached snapshot used without the network, resumed and refused downloads,
// revisions, offline mode, credentials kept to the hub's own host, and `models
// add` / `ipfs add -r` of a snapshot storing the files its links point to.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"
#include "integration/fake_hub.h"
#include "integration/pty_session.h"

namespace ia::test {
namespace {

namespace fs = std::filesystem;

const std::string kBert = std::string(IA_FIXTURES_DIR) + "/models/bert";
const std::string kRepo = "org/tiny-bert";
const std::string kCommit = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";

// The bert fixture as a hub repository, with what a real one carries beside it.
std::map<std::string, FakeHub::File> repo_files() {
  auto files = fixture_files(kBert);
  files["pytorch_model.bin"] = {std::string(4096, 'p'), true};
  files["onnx/model.onnx"] = {std::string(2048, 'o'), true};
  files["README.md"] = {"# tiny bert\n", false};
  files[".gitattributes"] = {"*.safetensors filter=lfs diff=lfs merge=lfs -text\n", false};
  return files;
}

// The environment one test's CLI runs see: its own HF cache, IPFS home and endpoint.
class HubCli : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = tmp_.path() + "/hf-cache";
    ::setenv("HF_HUB_CACHE", cache_.c_str(), 1);
    ::setenv("HF_HOME", (tmp_.path() + "/hf-home").c_str(), 1);  // no token file of the machine's
    ::setenv("IPFS_ACCELERATE_HOME", (tmp_.path() + "/ia-home").c_str(), 1);
    ::setenv("HF_ENDPOINT", "http://127.0.0.1:1", 1);  // nothing listens: any request fails
    for (const char* v : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_TOKEN_PATH"}) ::unsetenv(v);
  }
  void TearDown() override {
    for (const char* v :
         {"HF_HUB_CACHE", "HF_HOME", "IPFS_ACCELERATE_HOME", "HF_ENDPOINT", "HF_TOKEN", "HF_HUB_OFFLINE"})
      ::unsetenv(v);
  }
  void use(const FakeHub& hub) { ::setenv("HF_ENDPOINT", hub.url().c_str(), 1); }
  fs::path repo_dir() const { return fs::path(cache_) / "models--org--tiny-bert"; }
  fs::path snapshot() const { return repo_dir() / "snapshots" / kCommit; }

  static nlohmann::json embeddings(const CliResult& r) {
    EXPECT_EQ(r.status, 0) << r.err;
    if (r.status != 0) return nullptr;
    return nlohmann::json::parse(r.out)["embeddings"];
  }
  static nlohmann::json reference_embeddings() { return embeddings(run_cli({"embed", "-m", kBert, "hello world"})); }
  static nlohmann::json pulled(const CliResult& r) {
    EXPECT_EQ(r.status, 0) << r.err;
    return r.status == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  }
  // The bytes received so far of the blob named `etag`, 0 when there is no partial file.
  uint64_t partial_size(const std::string& etag) const {
    std::error_code ec;
    const fs::path p = repo_dir() / "blobs" / (etag + ".incomplete");
    return fs::exists(p, ec) ? fs::file_size(p) : 0;
  }

  TempDir tmp_;
  std::string cache_;
};

TEST_F(HubCli, DownloadsIntoTheSharedCacheLayoutThenEmbeds) {
  FakeHub hub(kRepo, kCommit, repo_files());
  use(hub);
  ::setenv("HF_TOKEN", "hf_test_token", 1);
  CliResult r = run_cli({"embed", "-m", kRepo, "hello world"});
  EXPECT_EQ(embeddings(r), reference_embeddings());

  // huggingface_hub's layout: refs/main, blobs by ETag, relative links in the snapshot.
  EXPECT_EQ(read_file((repo_dir() / "refs" / "main").string()), kCommit);
  const auto& files = hub.files();
  const std::string weights_sha = sha256_hex(files.at("model.safetensors").bytes);
  EXPECT_EQ(fs::read_symlink(snapshot() / "model.safetensors"), fs::path("../../blobs/" + weights_sha));
  EXPECT_EQ(read_file((repo_dir() / "blobs" / weights_sha).string()), files.at("model.safetensors").bytes);
  const std::string pooling_sha1 = git_blob_sha1_hex(files.at("1_Pooling/config.json").bytes);
  EXPECT_EQ(fs::read_symlink(snapshot() / "1_Pooling" / "config.json"), fs::path("../../../blobs/" + pooling_sha1));
  for (const char* f : {"config.json", "tokenizer.json", "tokenizer_config.json", "modules.json"})
    EXPECT_EQ(read_file((snapshot() / f).string()), files.at(f).bytes) << f;
  // Only what the runtime loads: no other weight formats, no second safetensors, no README.
  for (const char* f : {"pytorch_model.bin", "onnx", "reference.safetensors", "README.md", ".gitattributes"})
    EXPECT_FALSE(fs::exists(fs::symlink_status(snapshot() / f))) << f;
  for (const auto& e : fs::directory_iterator(repo_dir() / "blobs"))
    EXPECT_NE(e.path().extension(), ".incomplete") << e.path();

  // The token goes to the hub, never to the CDN host a redirect names.
  bool saw_cdn = false;
  for (const auto& q : hub.requests()) {
    if (q.path.rfind("/cdn/", 0) == 0) {
      saw_cdn = true;
      EXPECT_EQ(q.authorization, "") << q.path;
    } else {
      EXPECT_EQ(q.authorization, "Bearer hf_test_token") << q.method << " " << q.path;
    }
  }
  EXPECT_TRUE(saw_cdn);

  // A complete snapshot runs again without a single request.
  hub.clear_requests();
  EXPECT_EQ(embeddings(run_cli({"embed", "-m", kRepo, "hello world"})), reference_embeddings());
  EXPECT_TRUE(hub.requests().empty());

  // `pull` asks the hub again, finds every file, and says where the snapshot is.
  nlohmann::json p = pulled(run_cli({"pull", kRepo}));
  EXPECT_EQ(p["path"], snapshot().string());
  EXPECT_EQ(p["commit"], kCommit);
  EXPECT_EQ(p["downloaded"], 0);
}

TEST_F(HubCli, CachedSnapshotNeedsNoNetwork) {
  // A cache as transformers leaves it, written by hand; the endpoint is a closed port.
  const fs::path repo = repo_dir();
  fs::create_directories(repo / "refs");
  write_file((repo / "refs" / "main").string(), kCommit);
  for (const auto& [name, f] : fixture_files(kBert)) {
    const std::string etag = f.lfs ? sha256_hex(f.bytes) : git_blob_sha1_hex(f.bytes);
    fs::create_directories(repo / "blobs");
    write_file((repo / "blobs" / etag).string(), f.bytes);
    const fs::path link = snapshot() / name;
    fs::create_directories(link.parent_path());
    fs::create_symlink(fs::relative(repo / "blobs" / etag, link.parent_path()), link);
  }
  const nlohmann::json want = reference_embeddings();
  EXPECT_EQ(embeddings(run_cli({"embed", "-m", kRepo, "hello world"})), want);
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  EXPECT_EQ(embeddings(run_cli({"embed", "-m", kRepo, "hello world"})), want);
  EXPECT_EQ(embeddings(run_cli({"embed", "-m", kRepo + "@" + kCommit, "hello world"})), want);
  nlohmann::json p = pulled(run_cli({"pull", kRepo}));  // offline: the cache's answer
  EXPECT_EQ(p["path"], snapshot().string());
}

TEST_F(HubCli, OfflineMissIsAClearError) {
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  expect_user_error(run_cli({"embed", "-m", kRepo, "hi"}), "HF_HUB_OFFLINE");
  expect_user_error(run_cli({"pull", kRepo + "@v2"}), "not in the Hugging Face cache");
}

TEST_F(HubCli, InterruptedDownloadResumesWithRange) {
  FakeHub hub(kRepo, kCommit, repo_files());
  use(hub);
  hub.cut_lfs(1);  // the first CDN answer stops half-way
  nlohmann::json p = pulled(run_cli({"--quiet", "pull", kRepo}));
  const std::string& weights = hub.files().at("model.safetensors").bytes;
  const std::string sha = sha256_hex(weights);
  std::vector<std::string> ranges;
  for (const auto& q : hub.requests())
    if (q.method == "GET" && q.path == "/cdn/" + sha) ranges.push_back(q.range);
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], "");
  EXPECT_EQ(ranges[1], "bytes=" + std::to_string(weights.size() / 2) + "-");
  EXPECT_EQ(read_file((repo_dir() / "blobs" / sha).string()), weights);
  EXPECT_EQ(partial_size(sha), 0u);
}

TEST_F(HubCli, ALastingDownloadIsTwoPlainLinesOffATerminal) {
  FakeHub hub(kRepo, kCommit, repo_files());
  use(hub);
  hub.pause_lfs(std::chrono::milliseconds(1500));  // the weights take more than a second
  CliResult r = run_cli({"pull", kRepo});
  ASSERT_EQ(r.status, 0) << r.err;
  // A line once the file had been coming for a second and one when it was done; none for the quick files.
  EXPECT_NE(r.err.find("downloading org/tiny-bert: model.safetensors (195.9 kB)\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("downloading org/tiny-bert: model.safetensors: done, 195.9 kB in "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("config.json"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
}

TEST_F(HubCli, DownloadProgressSaysWhereItResumesAndDrawsABarAtATerminal) {
  FakeHub hub(kRepo, kCommit, repo_files());
  use(hub);
  hub.cut_lfs(1000);
  expect_user_error(run_cli({"--quiet", "pull", kRepo}), "next run resumes");
  hub.cut_lfs(0);
  CliResult r = run_cli({"--progress", "plain", "pull", kRepo});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("downloading org/tiny-bert: model.safetensors (195.9 kB), resuming at "), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("downloading org/tiny-bert: model.safetensors: done, 195.9 kB in "), std::string::npos) << r.err;

  ::setenv("HF_HUB_CACHE", (tmp_.path() + "/another-cache").c_str(), 1);
  PtySession pull({"pull", kRepo});
  ASSERT_EQ(pull.wait(60), 0) << pull.output();
  const std::string& out = pull.output();
  const size_t bar = out.rfind("\rdownloading org/tiny-bert: model.safetensors");
  ASSERT_NE(bar, std::string::npos) << out;
  EXPECT_NE(out.find("[" + std::string(20, '#') + "] 195.9 kB in ", bar), std::string::npos) << out;
}

TEST_F(HubCli, DownloadCutEveryTimeResumesOnTheNextRun) {
  FakeHub hub(kRepo, kCommit, repo_files());
  use(hub);
  const std::string& weights = hub.files().at("model.safetensors").bytes;
  const std::string sha = sha256_hex(weights);
  hub.cut_lfs(1000);
  CliResult r = run_cli({"--quiet", "pull", kRepo});
  expect_user_error(r, "next run resumes");
  const uint64_t kept = partial_size(sha);
  EXPECT_GT(kept, 0u);
  EXPECT_LT(kept, weights.size());
  EXPECT_FALSE(fs::exists(repo_dir() / "blobs" / sha));  // never a half-written blob under its final name
  EXPECT_FALSE(fs::exists(fs::symlink_status(snapshot() / "model.safetensors")));
  EXPECT_FALSE(fs::exists(repo_dir() / "refs" / "main"));

  hub.cut_lfs(0);
  hub.clear_requests();
  nlohmann::json p = pulled(run_cli({"--quiet", "pull", kRepo}));
  EXPECT_EQ(p["downloaded"], 1);  // the small files were complete already
  std::vector<std::string> ranges;
  for (const auto& q : hub.requests())
    if (q.method == "GET" && q.path == "/cdn/" + sha) ranges.push_back(q.range);
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0], "bytes=" + std::to_string(kept) + "-");
  EXPECT_EQ(read_file((repo_dir() / "blobs" / sha).string()), weights);
  EXPECT_EQ(embeddings(run_cli({"--quiet", "embed", "-m", kRepo, "hello world"})), reference_embeddings());
}

TEST_F(HubCli, CorruptFilesAreRefusedAndNotKept) {
  for (const std::string file : {"model.safetensors", "config.json"}) {
    SCOPED_TRACE(file);
    fs::remove_all(cache_);
    FakeHub hub(kRepo, kCommit, repo_files());
    use(hub);
    hub.corrupt(file);
    expect_user_error(run_cli({"--quiet", "pull", kRepo}), "do not match the hub's hash");
    const auto& bytes = hub.files().at(file).bytes;
    const std::string etag = file == "config.json" ? git_blob_sha1_hex(bytes) : sha256_hex(bytes);
    EXPECT_FALSE(fs::exists(repo_dir() / "blobs" / etag));
    EXPECT_EQ(partial_size(etag), 0u);
    EXPECT_FALSE(fs::exists(fs::symlink_status(snapshot() / file)));
    EXPECT_FALSE(fs::exists(repo_dir() / "refs" / "main"));
  }
}

TEST_F(HubCli, RevisionsByCommitAndByName) {
  FakeHub hub(kRepo, kCommit, repo_files());
  use(hub);
  nlohmann::json p = pulled(run_cli({"--quiet", "pull", kRepo + "@" + kCommit}));
  EXPECT_EQ(p["path"], snapshot().string());
  EXPECT_EQ(p["revision"], kCommit);
  EXPECT_FALSE(fs::exists(repo_dir() / "refs" / "main"));  // a commit needs no ref
  EXPECT_FALSE(fs::exists(repo_dir() / "refs" / kCommit));
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  EXPECT_EQ(embeddings(run_cli({"embed", "-m", kRepo + "@" + kCommit, "hello world"})), reference_embeddings());
  expect_user_error(run_cli({"embed", "-m", kRepo, "hi"}), "HF_HUB_OFFLINE");  // main was never resolved
  ::unsetenv("HF_HUB_OFFLINE");
  expect_user_error(run_cli({"--quiet", "pull", kRepo + "@no-such-branch"}), "no such revision");
  expect_user_error(run_cli({"--quiet", "pull", "org/other"}), "HF_TOKEN");
  expect_user_error(run_cli({"pull", "not-a-model-id"}), "not a Hugging Face model id");
}

TEST_F(HubCli, ModelsAddAndIpfsAddStoreTheSnapshotsFiles) {
  FakeHub hub(kRepo, kCommit, repo_files());
  use(hub);
  nlohmann::json p = pulled(run_cli({"--quiet", "pull", kRepo}));
  const std::string snap = p["path"];
  // The snapshot's files, copied through their links: what must be stored.
  const std::string plain = tmp_.path() + "/plain";
  fs::copy(snap, plain, fs::copy_options::recursive);
  ASSERT_TRUE(fs::is_regular_file(fs::symlink_status(plain + "/model.safetensors")));
  CliResult want = run_cli({"ipfs", "add", "-r", "-Q", plain});
  ASSERT_EQ(want.status, 0) << want.err;
  CliResult got = run_cli({"ipfs", "add", "-r", "-Q", snap});
  ASSERT_EQ(got.status, 0) << got.err;
  EXPECT_EQ(got.out, want.out);
  CliResult added = run_cli({"models", "add", "tiny", snap});
  ASSERT_EQ(added.status, 0) << added.err;
  EXPECT_EQ(nlohmann::json::parse(added.out)["cid"].get<std::string>() + "\n", want.out);
  // Loaded back from the blockstore as plain files.
  EXPECT_EQ(embeddings(run_cli({"embed", "-m", "tiny", "hello world"})), reference_embeddings());
}

}  // namespace
}  // namespace ia::test
