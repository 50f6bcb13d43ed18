// The importer against kubo: every file and tree CID of the fixtures, block
// counts, DAG sizes, DFS block lists and kubo's own test vectors.
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <filesystem>
#include <map>

#include "core/error.h"
#include "ipfs/importer.h"
#include "ipfs/unixfs.h"
#include "unit/ipfs/fixtures.h"

namespace ia::ipfs {
namespace {

namespace fs = std::filesystem;

ImportOptions mode_options(const std::string& mode) {
  ImportOptions o;
  if (mode == "kubo-default-v0") return o;
  o.cid_version = 1;
  if (mode == "kubo-cidv1") return o;
  if (mode == "kubo-cidv1-no-raw-leaves") {
    o.raw_leaves = false;
    return o;
  }
  if (mode == "unixfs-v1-2025") {
    o.chunk_size = 1048576;
    o.max_links = 1024;
    return o;
  }
  ADD_FAILURE() << "unknown mode " << mode;
  return o;
}

// Kubo vector inputs: the ChaCha20 keystream (key = SHA-256 of the seed string, zero nonce).
std::string chacha20_bytes(const std::string& seed, size_t n) {
  Bytes key = sha256(seed);
  unsigned char iv[16] = {0};
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_chacha20(), nullptr, byte_ptr(key), iv);
  std::string zeros(n, '\0'), out(n, '\0');
  int len = 0;
  EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, byte_ptr(zeros), static_cast<int>(n));
  EVP_CIPHER_CTX_free(ctx);
  return out;
}

TEST(Importer, EveryFixtureFileInEveryMode) {
  const auto& files = test::cids_json()["files"];
  ASSERT_FALSE(files.empty()) << "cids.json lists no files: nothing would be checked";
  for (const auto& f : files) {
    std::string input = test::xorshift_bytes(f["seed"].get<uint32_t>(), f["size"].get<size_t>());
    ASSERT_EQ(to_hex(sha256(input)), f["sha256"]) << f["name"];
    for (const auto& [mode, m] : f["cids"].items()) {
      MemoryBlockstore store;
      BuiltNode root = import_bytes(input, store, mode_options(mode));
      EXPECT_EQ(root.cid.to_string(), m["root"]) << f["name"] << " " << mode;
      EXPECT_EQ(root.tsize, m["dag_size"].get<uint64_t>()) << f["name"] << " " << mode;
      EXPECT_EQ(store.size(), m["blocks"].get<size_t>()) << f["name"] << " " << mode;
      if (m.contains("blocks_dfs")) {
        for (const auto& b : m["blocks_dfs"]) {
          auto block = store.get(Cid::parse(b["cid"].get<std::string>()).hash);
          ASSERT_TRUE(block) << b["cid"];
          EXPECT_EQ(block->size(), b["size"].get<size_t>());
        }
      }
    }
  }
}

TEST(Importer, StreamingInOddPiecesGivesTheSameRoot) {
  std::string input = test::xorshift_bytes(1, 786449);
  for (size_t piece : {1u, 7u, 4096u, 262143u, 1000000u}) {
    NullSink sink;
    FileImporter imp(sink, ImportOptions{});
    for (size_t i = 0; i < input.size(); i += piece) imp.write(BytesView(input).substr(i, piece));
    EXPECT_EQ(imp.finish().cid.to_string(), "QmZCi7QtkkeY8irc2c9VnR5QkiMkE151DDGWxAJtvJ4dSR") << piece;
  }
}

std::string hamt_name(const std::string& stream, size_t& pos, size_t len) {
  static const std::string kAlphabet = "abcdefghijklmnopqrstuvwxyz01234567890-_";
  std::string name;
  for (size_t i = 0; i < len; ++i) name += kAlphabet[static_cast<unsigned char>(stream[pos++]) % kAlphabet.size()];
  return name;
}

TEST(Importer, KuboVectors) {
  size_t checked = 0;
  for (const auto& v : test::kubo_vectors()["vectors"]) {
    const auto& in = v["input"];
    std::string mode = v["mode"];
    ImportOptions opt = mode_options(mode);
    NullSink sink;
    std::string got;
    if (in.contains("text")) {
      got = import_bytes(in["text"].get<std::string>(), sink, opt).cid.to_string();
    } else if (in.contains("chacha20_seed")) {
      size_t size = in["size"];
      if (size > 100'000'000) continue;  // the 1 GiB vectors: bench territory
      got = import_bytes(chacha20_bytes(in["chacha20_seed"], size), sink, opt).cid.to_string();
    } else {
      if (mode == "unixfs-v1-2025") continue;  // that profile estimates block bytes, not link bytes
      size_t files = in["files"], len = in["name_len"], last = in["last_name_len"];
      std::string stream = chacha20_bytes(in["hamt_dir_seed"], files * 64);
      size_t pos = 0;
      std::vector<DirEntryLink> entries;
      BuiltNode x = import_bytes("x", sink, opt);
      for (size_t i = 0; i < files; ++i) {
        entries.push_back(DirEntryLink{hamt_name(stream, pos, i + 1 == files ? last : len), x.cid, x.tsize});
      }
      got = build_directory(entries, sink, opt.cid_version).cid.to_string();
    }
    EXPECT_EQ(got, v["cid"]) << v.dump();
    ++checked;
  }
  EXPECT_EQ(checked, 13u);  // all but the two 1 GiB files and the two unixfs-v1-2025 HAMT directories
}

// Writes spec.json's trees to `dir`.
void write_tree(const nlohmann::json& tree, const fs::path& dir) {
  fs::create_directories(dir);
  for (const auto& e : tree["entries"]) {
    fs::path p = dir / e["path"].get<std::string>();
    if (e.value("dir", false)) {
      fs::create_directories(p);
      continue;
    }
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    if (e.contains("text"))
      out << e["text"].get<std::string>();
    else
      out << test::xorshift_bytes(e["seed"].get<uint32_t>(), e["size"].get<size_t>());
  }
}

class TreeImport : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ia-ipfs-tree-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    auto spec = nlohmann::json::parse(test::read_all(test::kIpfsFixtures + "/spec.json"));
    for (const auto& t : spec["trees"]) write_tree(t, root_ / t["root"].get<std::string>());
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(TreeImport, ModelTreeEveryEntryInBothKuboModes) {
  for (const auto& t : test::cids_json()["trees"]) {
    for (const auto& [mode, m] : t["cids"].items()) {
      if (mode == "unixfs-v1-2025") continue;
      MemoryBlockstore store;
      std::map<std::string, std::string> got;
      BuiltNode root = import_path(root_ / t["root"].get<std::string>(), store, mode_options(mode), true,
                                   [&](const AddedEntry& e) { got[e.path] = e.cid.to_string(); });
      EXPECT_EQ(root.cid.to_string(), m["root"]) << mode;
      EXPECT_EQ(root.tsize, m["dag_size"].get<uint64_t>()) << mode;
      EXPECT_EQ(store.size(), m["blocks"].get<size_t>()) << mode;
      for (const auto& [path, cid] : m["entries"].items()) EXPECT_EQ(got[path], cid) << mode << " " << path;
      EXPECT_EQ(got.size(), m["entries"].size());
    }
  }
}

TEST_F(TreeImport, HiddenFilesSkippedUnlessAsked) {
  fs::path model = root_ / "model";
  std::ofstream(model / ".secret") << "hidden";
  NullSink sink;
  EXPECT_EQ(import_path(model, sink, ImportOptions{}, true).cid.to_string(),
            "QmUDwsdkjtzmNSzZEzEBQJ8Wa9xiTAv1HMthBkhzCUc1uz");
  ImportOptions hidden;
  hidden.hidden = true;
  EXPECT_NE(import_path(model, sink, hidden, true).cid.to_string(), "QmUDwsdkjtzmNSzZEzEBQJ8Wa9xiTAv1HMthBkhzCUc1uz");
  EXPECT_THROW(import_path(model, sink, ImportOptions{}, false), Error);
  EXPECT_THROW(import_path(root_ / "missing", sink, ImportOptions{}, true), Error);
}

// A Hugging Face cache snapshot: files that are relative links into ../../blobs.
// Followed, it is stored as the plain folder of the same files; by default the
// links stay links, as kubo stores them.
TEST_F(TreeImport, DereferencedSymlinksStoreWhatTheyPointTo) {
  const fs::path repo = root_ / "models--org--name", snap = repo / "snapshots" / "abc", plain = root_ / "plain";
  fs::create_directories(repo / "blobs");
  fs::create_directories(snap / "1_Pooling");
  fs::create_directories(plain / "1_Pooling");
  std::ofstream(repo / "blobs" / "e1") << "{\"a\": 1}";
  std::ofstream(repo / "blobs" / "e2") << test::xorshift_bytes(3, 300000);
  fs::create_symlink("../../blobs/e1", snap / "config.json");
  fs::create_symlink("../../../blobs/e2", snap / "1_Pooling" / "w.bin");
  std::ofstream(plain / "config.json") << "{\"a\": 1}";
  std::ofstream(plain / "1_Pooling" / "w.bin") << test::xorshift_bytes(3, 300000);

  NullSink sink;
  ImportOptions follow;
  follow.dereference_symlinks = true;
  const std::string plain_cid = import_path(plain, sink, ImportOptions{}, true).cid.to_string();
  EXPECT_EQ(import_path(snap, sink, follow, true).cid.to_string(), plain_cid);
  EXPECT_NE(import_path(snap, sink, ImportOptions{}, true).cid.to_string(), plain_cid);

  // A link to a folder is followed into it; one back to a folder being added is a loop.
  fs::create_symlink("1_Pooling", snap / "again");
  EXPECT_NO_THROW(import_path(snap, sink, follow, true));
  fs::create_symlink("..", snap / "1_Pooling" / "up");
  try {
    import_path(snap, sink, follow, true);
    ADD_FAILURE() << "a symlink loop was followed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("loop"), std::string::npos) << e.what();
  }
  fs::remove(snap / "1_Pooling" / "up");
  // A dangling link is named, not stored.
  fs::create_symlink("../../blobs/missing", snap / "tokenizer.json");
  try {
    import_path(snap, sink, follow, true);
    ADD_FAILURE() << "a dangling link was stored";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
  }
}

TEST(Importer, ChunkerOptions) {
  EXPECT_EQ(parse_chunker("size-262144"), 262144u);
  EXPECT_EQ(parse_chunker("size-1"), 1u);
  EXPECT_THROW(parse_chunker("rabin"), Error);
  EXPECT_THROW(parse_chunker("size-0"), Error);
  EXPECT_THROW(parse_chunker("size-"), Error);
  EXPECT_THROW(parse_chunker("size-99999999"), Error);
  // A smaller chunker gives a deeper tree with the same bytes.
  ImportOptions o;
  o.chunk_size = 1000;
  MemoryBlockstore store;
  BuiltNode r = import_bytes(test::xorshift_bytes(1, 200000), store, o);
  EXPECT_EQ(store.size(), 200u + 2u + 1u);  // 200 leaves, 2 parents, 1 root
  (void)r;
}

}  // namespace
}  // namespace ia::ipfs
