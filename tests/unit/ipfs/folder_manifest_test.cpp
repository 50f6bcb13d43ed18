// The folder manifest `models push` writes and `--model s3://…` checks (ipfs/folder_manifest.h):
// the CID of a folder's published files is kubo's for that folder, the files a folder publishes
// (hidden and temporary names skipped, symlinks followed), verification naming what differs, and
// the parser's refusals of a manifest read from a store.
#include "ipfs/folder_manifest.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "fixtures.h"
#include "ipfs/importer.h"

namespace ia::ipfs {
namespace {

namespace fs = std::filesystem;

class FolderManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ia-manifest-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "model" / "onnx" / "extra");
    write("model/config.json", "{\"model_type\": \"bert\"}");
    write("model/model.safetensors", test::xorshift_bytes(7, 2100000));  // several chunks, a two-level DAG
    write("model/onnx/model.onnx", test::xorshift_bytes(8, 300000));
    write("model/onnx/extra/empty.bin", "");
    write("model/a.txt", "a");
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& bytes) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel, std::ios::binary) << bytes;
  }
  fs::path root_;
};

TEST_F(FolderManifestTest, TheCidIsKubosForTheFolderOfThoseFiles) {
  const fs::path model = root_ / "model";
  std::vector<SkippedFile> skipped;
  const auto files = folder_files(model, &skipped);
  EXPECT_EQ(files, (std::vector<std::string>{"a.txt", "config.json", "model.safetensors", "onnx/extra/empty.bin",
                                             "onnx/model.onnx"}));
  EXPECT_TRUE(skipped.empty());
  for (const uint64_t version : {0, 1}) {
    ImportOptions o;
    o.cid_version = version;
    NullSink sink;
    const FolderManifest m = build_folder_manifest(model, files, o);
    EXPECT_EQ(m.cid, import_path(model, sink, o, true).cid.to_string()) << version;
    EXPECT_EQ(m.files.size(), 5u);
    EXPECT_EQ(m.total_bytes(), 1u + 22u + 2100000u + 300000u);
    ASSERT_NE(m.find("onnx/model.onnx"), nullptr);
    EXPECT_EQ(m.find("onnx/model.onnx")->sha256, to_hex(sha256(test::xorshift_bytes(8, 300000))));
    EXPECT_EQ(m.find("missing"), nullptr);
    EXPECT_NO_THROW(verify_folder_manifest(model, m));
    // Written and read back: the same manifest, byte for byte the same text.
    const std::string text = folder_manifest_json(m);
    const FolderManifest back = parse_folder_manifest(text);
    EXPECT_EQ(folder_manifest_json(back), text);
    EXPECT_EQ(back.cid, m.cid);
    EXPECT_EQ(back.import.use_raw_leaves(), version == 1);
  }
}

TEST_F(FolderManifestTest, AKuboVectorOfAFolderOfFiles) {
  // spec.json's tree "model" written as the importer test writes it; its "onnx" folder holds files only.
  const auto spec = nlohmann::json::parse(test::read_all(test::kIpfsFixtures + "/spec.json"));
  const fs::path tree = root_ / "tree";
  for (const auto& e : spec["trees"][0]["entries"]) {
    const std::string path = e["path"].get<std::string>();
    if (path.rfind("onnx/", 0) != 0) continue;
    fs::create_directories((tree / path).parent_path());
    std::ofstream out(tree / path, std::ios::binary);
    if (e.contains("text"))
      out << e["text"].get<std::string>();
    else
      out << test::xorshift_bytes(e["seed"].get<uint32_t>(), e["size"].get<size_t>());
  }
  const auto& cids = test::cids_json()["trees"][0]["cids"];
  const fs::path onnx = tree / "onnx";
  EXPECT_EQ(build_folder_manifest(onnx, folder_files(onnx, nullptr)).cid,
            cids["kubo-default-v0"]["entries"]["model/onnx"]);
  ImportOptions v1;
  v1.cid_version = 1;
  EXPECT_EQ(build_folder_manifest(onnx, folder_files(onnx, nullptr), v1).cid,
            cids["kubo-cidv1"]["entries"]["model/onnx"]);
}

TEST_F(FolderManifestTest, HiddenAndTemporaryNamesAreSkippedAndSymlinksFollowed) {
  const fs::path model = root_ / "model";
  write("model/.git/HEAD", "ref");
  write("model/onnx/.cache", "x");
  write("model/model.safetensors.partial", "p");
  write("model/weights.bin.partial-1234", "p");
  write("model/notes.txt~", "n");
  write("model/x.tmp", "t");
  write("model/y.incomplete", "i");
  write("elsewhere/tokenizer.json", "{}");
  fs::create_symlink(root_ / "elsewhere" / "tokenizer.json", model / "tokenizer.json");
  std::vector<SkippedFile> skipped;
  const auto files = folder_files(model, &skipped);
  EXPECT_EQ(files.size(), 6u);
  EXPECT_NE(std::find(files.begin(), files.end(), "tokenizer.json"), files.end());
  std::map<std::string, std::string> why;
  for (const auto& s : skipped) why[s.path] = s.reason;
  EXPECT_EQ(why[".git"], "hidden");  // a hidden folder is one entry
  EXPECT_EQ(why["onnx/.cache"], "hidden");
  EXPECT_EQ(why["model.safetensors.partial"], "temporary");
  EXPECT_EQ(why["weights.bin.partial-1234"], "temporary");
  EXPECT_EQ(why["notes.txt~"], "temporary");
  EXPECT_EQ(why["x.tmp"], "temporary");
  EXPECT_EQ(why["y.incomplete"], "temporary");
  EXPECT_EQ(skipped.size(), 7u);
  // The CID is that of the folder the store will hand back: hidden files are left out by
  // `ipfs add -r` too, so it equals the import of a copy without the temporary files.
  const fs::path copy = root_ / "copy";
  for (const auto& f : files) {
    fs::create_directories((copy / f).parent_path());
    fs::copy_file(model / f, copy / f);
  }
  NullSink sink;
  EXPECT_EQ(build_folder_manifest(model, files).cid, import_path(copy, sink, ImportOptions{}, true).cid.to_string());
  fs::create_symlink(root_ / "elsewhere" / "gone", model / "dangling.json");
  EXPECT_THROW(folder_files(model, nullptr), Error);
  try {
    folder_files(root_ / "nope", nullptr);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
}

TEST_F(FolderManifestTest, VerificationNamesWhatDiffers) {
  const fs::path model = root_ / "model";
  const FolderManifest m = build_folder_manifest(model, folder_files(model, nullptr));
  auto expect_corrupt = [&](const FolderManifest& mm, const std::string& needle) {
    try {
      verify_folder_manifest(model, mm);
      ADD_FAILURE() << "verified: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  std::string bytes = test::xorshift_bytes(8, 300000);
  bytes[1000] ^= 1;
  write("model/onnx/model.onnx", bytes);
  expect_corrupt(m, "onnx/model.onnx: sha256");
  write("model/onnx/model.onnx", test::xorshift_bytes(8, 300000));
  FolderManifest other_cid = m;
  other_cid.cid = "QmUDwsdkjtzmNSzZEzEBQJ8Wa9xiTAv1HMthBkhzCUc1uz";
  expect_corrupt(other_cid, "CID");
  fs::remove(model / "a.txt");
  EXPECT_THROW(verify_folder_manifest(model, m), Error);
}

TEST(FolderManifestParse, RefusesWhatCannotBeWrittenSafely) {
  auto manifest = [](const nlohmann::json& files, uint64_t total) {
    return nlohmann::json{{"format", "ipfs-accelerate-folder-manifest"},
                          {"version", 1},
                          {"cid", "QmUDwsdkjtzmNSzZEzEBQJ8Wa9xiTAv1HMthBkhzCUc1uz"},
                          {"ipfs", {{"cid_version", 0}, {"raw_leaves", false}, {"chunker", "size-262144"}}},
                          {"total_bytes", total},
                          {"files", files}}
        .dump();
  };
  const std::string sha(64, 'a');
  const auto ok = parse_folder_manifest(manifest(
      {{{"path", "b/c.bin"}, {"size", 3}, {"sha256", sha}}, {{"path", "a.json"}, {"size", 2}, {"sha256", sha}}}, 5));
  ASSERT_EQ(ok.files.size(), 2u);
  EXPECT_EQ(ok.files[0].path, "a.json");  // sorted
  auto refused = [&](const std::string& text, const std::string& needle) {
    try {
      parse_folder_manifest(text);
      ADD_FAILURE() << "accepted: " << text.substr(0, 200);
    } catch (const Error& e) {
      EXPECT_TRUE(e.kind() == ErrorKind::Corrupt || e.kind() == ErrorKind::Unsupported) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  for (const char* bad : {"../x", "/abs", ".hidden", "a//b", "a/./b", "a/../b", "a/", "", "a\\b", "sub/.git/x"})
    refused(manifest({{{"path", bad}, {"size", 1}, {"sha256", sha}}}, 1), "path");
  refused(manifest({{{"path", "a"}, {"size", 1}, {"sha256", sha}}, {{"path", "a"}, {"size", 1}, {"sha256", sha}}}, 2),
          "twice");
  refused(manifest({{{"path", "a"}, {"size", 1}, {"sha256", sha}}, {{"path", "a/b"}, {"size", 1}, {"sha256", sha}}}, 2),
          "both a file and a folder");
  refused(manifest({{{"path", "a"}, {"size", 1}, {"sha256", "ABC"}}}, 1), "sha256");
  refused(manifest({{{"path", "a"}, {"size", -1}, {"sha256", sha}}}, 1), "size");
  refused(manifest({{{"path", "a"}, {"size", 1}, {"sha256", sha}}}, 7), "total_bytes");
  refused(manifest(nlohmann::json::array(), 0), "files");
  auto j = nlohmann::json::parse(manifest({{{"path", "a"}, {"size", 1}, {"sha256", sha}}}, 1));
  j["version"] = 2;
  refused(j.dump(), "version 2");
  j["version"] = 1;
  j["cid"] = "not-a-cid";
  refused(j.dump(), "cid");
  j["cid"] = "bafkqaaa";  // an identity raw CID: not a folder
  refused(j.dump(), "cid");
  refused("[1,2]", "object");
  refused("{\"format\": \"x\"}", "format");
  refused(std::string(kMaxManifestBytes + 1, ' '), "manifest");
  refused("{\"a\": 1, \"a\": 2}", "manifest");
}

}  // namespace
}  // namespace ia::ipfs
