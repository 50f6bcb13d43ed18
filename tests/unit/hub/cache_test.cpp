// The Hugging Face cache as huggingface_hub lays it out: where it is, how a
// model id and revision name its folders, refs, snapshot links, and when a
// snapshot is complete enough to run without asking the hub.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "hub/cache.h"
#include "hub/repo_ref.h"

namespace ia::hub {
namespace {

namespace fs = std::filesystem;

GetEnv env(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

class TempCache : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ia-hub-cache-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  static void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }
  fs::path root_;
};

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

TEST(HubCacheDir, FollowsHuggingFaceHubPrecedence) {
  EXPECT_EQ(hub_cache_dir(env({{"HF_HUB_CACHE", "/c"}, {"HF_HOME", "/h"}, {"HOME", "/home/u"}})), fs::path("/c"));
  EXPECT_EQ(hub_cache_dir(env({{"HF_HOME", "/h"}, {"XDG_CACHE_HOME", "/x"}})), fs::path("/h/hub"));
  EXPECT_EQ(hub_cache_dir(env({{"XDG_CACHE_HOME", "/x"}, {"HOME", "/home/u"}})), fs::path("/x/huggingface/hub"));
  EXPECT_EQ(hub_cache_dir(env({{"HOME", "/home/u"}})), fs::path("/home/u/.cache/huggingface/hub"));
  // Empty counts as unset; "~" is the home folder.
  EXPECT_EQ(hub_cache_dir(env({{"HF_HUB_CACHE", ""}, {"HF_HOME", "~/hf"}, {"HOME", "/home/u"}})),
            fs::path("/home/u/hf/hub"));
}

TEST(HubSettings, EndpointTokenOfflineFromTheEnvironment) {
  HubSettings d = HubSettings::from_env(env({{"HOME", "/nonexistent-home"}}));
  EXPECT_EQ(d.endpoint, "https://huggingface.co");
  EXPECT_TRUE(d.token.empty());
  EXPECT_FALSE(d.offline);

  HubSettings s = HubSettings::from_env(env({{"HF_ENDPOINT", "http://127.0.0.1:8080//"},
                                             {"HF_TOKEN", "hf_abc"},
                                             {"HF_HUB_OFFLINE", "yes"},
                                             {"HF_HUB_DOWNLOAD_TIMEOUT", "7"}}));
  EXPECT_EQ(s.endpoint, "http://127.0.0.1:8080");
  EXPECT_EQ(s.token, "hf_abc");
  EXPECT_TRUE(s.offline);
  EXPECT_EQ(s.stall_timeout_s, 7);
  for (const char* v : {"1", "ON", "true", "Yes"}) EXPECT_TRUE(env_true(v)) << v;
  for (const char* v : {"0", "", "off", "no", "2"}) EXPECT_FALSE(env_true(v)) << v;
  EXPECT_FALSE(env_true(nullptr));
  EXPECT_THROW(HubSettings::from_env(env({{"HF_ENDPOINT", "ftp://x"}})), Error);
  EXPECT_THROW(HubSettings::from_env(env({{"HF_TOKEN", "a b"}})), Error);
}

TEST_F(TempCache, TokenFileOfHfHome) {
  write(root_ / "token", "hf_from_file\n");
  EXPECT_EQ(HubSettings::from_env(env({{"HF_HOME", root_.string()}})).token, "hf_from_file");
  EXPECT_EQ(HubSettings::from_env(env({{"HF_HOME", root_.string()}, {"HF_TOKEN", "hf_env"}})).token, "hf_env");
}

TEST(RepoRef, ModelIdsAndRevisions) {
  auto r = parse_repo_ref("sentence-transformers/all-MiniLM-L6-v2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->repo, "sentence-transformers/all-MiniLM-L6-v2");
  EXPECT_EQ(r->revision, "main");
  EXPECT_EQ(r->str(), "sentence-transformers/all-MiniLM-L6-v2");
  r = parse_repo_ref("Qwen/Qwen2.5-0.5B-Instruct@" + kCommit);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->revision, kCommit);
  EXPECT_EQ(parse_repo_ref("org/name@refs/pr/1")->revision, "refs/pr/1");
  EXPECT_EQ(parse_repo_ref("org/name@v1.0")->str(), "org/name@v1.0");
  // Not model ids: paths, CIDs, bare words; the caller treats them as such.
  for (const char* s : {"bert", "./a/b", "/abs/x", "a/b/c", "a//b", "-a/b", "a/b.", "a/.b", "a--b/c", "a/b..c",
                        "tests/fixtures/models/bert", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "a b/c", ""})
    EXPECT_FALSE(parse_repo_ref(s)) << s;
  // A model id with a malformed revision is refused, not taken for a path.
  for (const char* s : {"org/name@", "org/name@a..b", "org/name@/x", "org/name@x/", "org/name@a b", "org/name@.x"})
    EXPECT_THROW(parse_repo_ref(s), Error) << s;
}

TEST(RepoRef, SafeFileNames) {
  for (const char* s : {"config.json", "1_Pooling/config.json", "a/b/c.safetensors", "name with space.txt", "..a"})
    EXPECT_TRUE(is_safe_repo_filename(s)) << s;
  for (const char* s : {"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", ".", "..", "a\\b", "a\nb"})
    EXPECT_FALSE(is_safe_repo_filename(s)) << s;
  EXPECT_FALSE(is_safe_repo_filename(std::string(256, 'a')));
  EXPECT_TRUE(is_commit_hash(kCommit));
  EXPECT_FALSE(is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
  EXPECT_FALSE(is_commit_hash("main"));
}

TEST_F(TempCache, LayoutRefsSnapshotsAndLinks) {
  EXPECT_EQ(repo_folder_name("org/name"), "models--org--name");
  RepoCache c(root_, "org/name");
  EXPECT_EQ(c.dir(), root_ / "models--org--name");
  EXPECT_EQ(c.blob("e"), root_ / "models--org--name" / "blobs" / "e");
  EXPECT_EQ(c.lock_file("e"), root_ / ".locks" / "models--org--name" / "e.lock");

  EXPECT_FALSE(c.commit_of("main"));
  EXPECT_EQ(c.commit_of(kCommit), kCommit);  // a commit hash stands for itself
  c.write_ref("main", kCommit);
  EXPECT_EQ(c.commit_of("main"), kCommit);
  c.write_ref("refs/pr/1", kCommit);  // nested, as huggingface_hub writes it
  EXPECT_EQ(c.commit_of("refs/pr/1"), kCommit);
  EXPECT_FALSE(c.find_snapshot({"org/name", "main"}));  // a ref without its snapshot

  write(c.blob("e1"), "{}");
  write(c.blob("e2"), "weights");
  c.link(kCommit, "config.json", "e1");
  c.link(kCommit, "1_Pooling/config.json", "e1");
  EXPECT_EQ(fs::read_symlink(c.snapshot(kCommit) / "config.json"), fs::path("../../blobs/e1"));
  EXPECT_EQ(fs::read_symlink(c.snapshot(kCommit) / "1_Pooling" / "config.json"), fs::path("../../../blobs/e1"));
  EXPECT_TRUE(c.has_file(kCommit, "1_Pooling/config.json"));
  EXPECT_FALSE(c.has_file(kCommit, "model.safetensors"));
  c.link(kCommit, "model.safetensors", "missing");  // a link to no blob is not a file
  EXPECT_FALSE(c.has_file(kCommit, "model.safetensors"));
  c.link(kCommit, "model.safetensors", "e2");  // replaced in place
  EXPECT_TRUE(c.has_file(kCommit, "model.safetensors"));
  EXPECT_EQ(c.find_snapshot({"org/name", "main"}), c.snapshot(kCommit));
  EXPECT_EQ(c.find_snapshot({"org/name", kCommit}), c.snapshot(kCommit));

  write(c.dir() / "refs" / "broken", "not a commit");
  EXPECT_THROW(c.commit_of("broken"), Error);
}

TEST_F(TempCache, SnapshotCompleteness) {
  const fs::path s = root_ / "snap";
  fs::create_directories(s);
  EXPECT_FALSE(snapshot_looks_complete(s));
  write(s / "config.json", "{}");
  EXPECT_FALSE(snapshot_looks_complete(s));  // config.json alone: transformers' AutoConfig left it
  write(s / "model.safetensors", "x");
  EXPECT_TRUE(snapshot_looks_complete(s));
  fs::remove(s / "model.safetensors");
  write(s / "model.safetensors.index.json",
        R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})");
  write(s / "model-00001-of-00002.safetensors", "x");
  EXPECT_FALSE(snapshot_looks_complete(s));  // a shard missing
  write(s / "model-00002-of-00002.safetensors", "x");
  EXPECT_TRUE(snapshot_looks_complete(s));
}

TEST(HubCache, InCacheSnapshot) {
  EXPECT_TRUE(in_cache_snapshot("/c/models--org--name/snapshots/" + kCommit));
  EXPECT_TRUE(in_cache_snapshot("/c/models--org--name/snapshots/" + kCommit + "/1_Pooling"));
  EXPECT_FALSE(in_cache_snapshot("/c/models--org--name/snapshots"));
  EXPECT_FALSE(in_cache_snapshot("/c/models--org--name/blobs/" + kCommit));
  EXPECT_FALSE(in_cache_snapshot("/c/org/snapshots/" + kCommit));
  EXPECT_FALSE(in_cache_snapshot("tests/fixtures/models/bert"));
}

}  // namespace
}  // namespace ia::hub
