// `--model CID`, `--model ipfs://CID`, `--model NAME` (models add|list|rm):
// the bert fixture added to one repo, served over loopback by our own
// `ipfs serve` and by the reference peer, fetched into a fresh home and
// materialised; the embeddings equal those of the folder itself.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "integration/cli_runner.h"
#include "integration/ipfs_processes.h"

namespace ia::test {
namespace {

namespace fs = std::filesystem;

const std::string kBert = std::string(IA_FIXTURES_DIR) + "/models/bert";

CliResult in_home(const std::string& home, const std::vector<std::string>& args) {
  ::setenv("IPFS_ACCELERATE_HOME", home.c_str(), 1);
  ::unsetenv("IPFS_GATEWAY");
  CliResult r = run_cli(args);
  ::unsetenv("IPFS_ACCELERATE_HOME");
  return r;
}

// The embeddings an `embed` run printed (the "model" field names the argument, so it differs).
nlohmann::json embeddings(const CliResult& r) {
  EXPECT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) return {};
  return {j["embeddings"], j["dimensions"], j["pooling"], j["normalized"]};
}

const std::vector<std::string> kTexts{"Hello world", "Content-addressed models load the same"};

std::vector<std::string> embed_args(const std::vector<std::string>& pre, const std::string& model) {
  std::vector<std::string> a = pre;
  a.insert(a.end(), {"embed", "--model", model});
  a.insert(a.end(), kTexts.begin(), kTexts.end());
  return a;
}

TEST(CliModels, ModelByCidFromOurGatewayEmbedsLikeTheFolder) {
  TempDir tmp;
  std::string src = tmp.path() + "/src", home = tmp.path() + "/home";
  CliResult add = in_home(src, {"ipfs", "add", "-r", "-Q", kBert});
  ASSERT_EQ(add.status, 0) << add.err;
  std::string cid = add.out.substr(0, add.out.size() - 1);
  auto expected = embeddings(in_home(home, embed_args({}, kBert)));

  // Not here and no gateway: a clear one-line error.
  CliResult none = in_home(home, embed_args({}, cid));
  EXPECT_EQ(none.status, 2);
  EXPECT_EQ(none.err_lines().size(), 1u) << none.err;
  EXPECT_NE(none.err.find("no gateway"), std::string::npos) << none.err;

  std::unique_ptr<Process> server;
  std::string url = start_our_gateway(src, tmp.path() + "/serve.log", server);
  ASSERT_FALSE(url.empty());
  EXPECT_EQ(embeddings(in_home(home, embed_args({"--gateway", url}, cid))), expected);
  server.reset();  // from here on everything comes from the cache
  EXPECT_EQ(embeddings(in_home(home, embed_args({}, "ipfs://" + cid))), expected);
  EXPECT_EQ(embeddings(in_home(home, embed_args({}, "/ipfs/" + cid + "/"))), expected);
  size_t folders = 0;
  for (const auto& e : fs::directory_iterator(home + "/models")) folders += e.is_directory();
  EXPECT_EQ(folders, 1u);  // materialised once, reused
  EXPECT_EQ(in_home(home, {"ipfs", "repo", "verify"}).status, 0);
  EXPECT_EQ(in_home(home, {"ipfs", "pin", "ls"}).out, cid + " recursive\n");  // kept from gc

  // Names.
  CliResult named = in_home(home, {"models", "add", "tiny-bert", cid});
  ASSERT_EQ(named.status, 0) << named.err;
  EXPECT_EQ(nlohmann::json::parse(named.out)["cid"], cid);
  EXPECT_EQ(embeddings(in_home(home, embed_args({}, "tiny-bert"))), expected);
  // A folder is added (same CID as `ipfs add -r`) and named in one go.
  CliResult folder = in_home(home, {"models", "add", "local", kBert});
  ASSERT_EQ(folder.status, 0) << folder.err;
  EXPECT_EQ(nlohmann::json::parse(folder.out)["cid"], cid);
  CliResult list = in_home(home, {"models", "list"});
  EXPECT_EQ(list.out,
            "{\"cid\":\"" + cid + "\",\"name\":\"local\"}\n{\"cid\":\"" + cid + "\",\"name\":\"tiny-bert\"}\n");
  EXPECT_EQ(in_home(home, {"models", "rm", "tiny-bert"}).status, 0);
  EXPECT_EQ(in_home(home, {"models", "rm", "tiny-bert"}).status, 2);
  EXPECT_EQ(in_home(home, embed_args({}, "tiny-bert")).status, 2);
  EXPECT_EQ(in_home(home, {"models", "add", "../x", cid}).status, 2);
  EXPECT_EQ(in_home(home, {"models", "add", "x", "not-a-cid"}).status, 2);
  // A file inside the DAG is not a model folder.
  CliResult file = in_home(home, embed_args({}, "ipfs://" + cid + "/config.json"));
  EXPECT_EQ(file.status, 2);
  EXPECT_NE(file.err.find("not a model folder"), std::string::npos) << file.err;
}

// `models …` and `dev …` throw the library's own errors; main reports each as
// one "ipfs-accelerate: error: …" line with exit status 2.
TEST(CliModels, ModelsAndDevErrorsAreOneLineWithStatus2) {
  TempDir tmp;
  const std::string home = tmp.path() + "/home";
  const std::string cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
  expect_user_error(in_home(home, {"models", "rm", "nope"}), "no model named \"nope\"");
  expect_user_error(in_home(home, {"models", "add", "../x", cid}), "cannot be a model name");
  expect_user_error(in_home(home, {"models", "add", "x", "not-a-cid"}), "not-a-cid");
  write_file(tmp.path() + "/file.txt", "x");
  expect_user_error(in_home(home, {"models", "add", "x", tmp.path() + "/file.txt"}), "a model must be a folder");
  expect_user_error(run_cli({"dev", "random-model", "--like", "nonsense", "--out", tmp.path() + "/m"}),
                    "--like must be");
  expect_user_error(run_cli({"dev", "random-model", "--like", kBert + "/config.json", "--out", tmp.path() + "/m"}),
                    "not a supported decoder");
  // Too many layers for any loader, and more weights than memory holds: refused before building
  // anything (this was bad_alloc, exit 1).
  expect_user_error(
      run_cli({"dev", "random-model", "--like", "llama-1b", "--layers", "2000000000", "--out", tmp.path() + "/m"}),
      "num_hidden_layers");
  expect_user_error(
      run_cli({"dev", "random-model", "--like", "llama-1b", "--layers", "4096", "--out", tmp.path() + "/m"}),
      "free memory");
  EXPECT_FALSE(fs::exists(tmp.path() + "/m"));
}

TEST(CliModels, SubFolderIsFetchedWithoutTheRestOfTheDag) {
  TempDir tmp;
  std::string src = tmp.path() + "/src", home = tmp.path() + "/home", tree = tmp.path() + "/hub";
  fs::create_directories(tree);
  fs::copy(kBert, tree + "/bert", fs::copy_options::recursive);
  write_file(tree + "/other.bin", xorshift_bytes(8, 2'000'000));  // a sibling that must not come over the wire
  CliResult add = in_home(src, {"ipfs", "add", "-r", "-Q", tree});
  ASSERT_EQ(add.status, 0) << add.err;
  std::string cid = add.out.substr(0, add.out.size() - 1);
  std::unique_ptr<Process> server;
  std::string url = start_our_gateway(src, tmp.path() + "/serve.log", server);
  ASSERT_FALSE(url.empty());
  auto expected = embeddings(in_home(home, embed_args({}, kBert)));
  EXPECT_EQ(embeddings(in_home(home, embed_args({"--gateway", url}, "ipfs://" + cid + "/bert"))), expected);
  // A name that is not there: one clear line, found out without fetching the rest of the DAG.
  expect_user_error(in_home(home, embed_args({"--gateway", url}, "ipfs://" + cid + "/nope")),
                    cid + "/nope: no such file or directory");
  server.reset();
  EXPECT_EQ(in_home(home, {"ipfs", "cat", cid + "/other.bin"}).status, 2);  // never fetched
  EXPECT_EQ(in_home(home, {"ipfs", "repo", "verify"}).status, 0);
}

TEST(CliModels, ModelByCidFromTheReferencePeer) {
  TempDir tmp;
  std::string dir = tmp.path() + "/refgw";
  if (std::string why = install_reference_peer(dir); !why.empty()) GTEST_SKIP() << why;
  std::string repo = tmp.path() + "/gwrepo";
  auto [st, out] = sh("cd '" + dir + "' && node gateway.mjs add --repo '" + repo + "' -r '" + kBert + "' 2>&1");
  ASSERT_EQ(st, 0) << out;
  size_t at = out.rfind("added ");
  ASSERT_NE(at, std::string::npos) << out;
  std::string cid = out.substr(at + 6, out.find(' ', at + 6) - at - 6);
  int port = free_port();
  Process gw({"node", "gateway.mjs", "serve", "--repo", repo, "--host", "127.0.0.1", "--port", std::to_string(port)},
             tmp.path() + "/refgw.log", dir);
  ASSERT_NE(wait_for(tmp.path() + "/refgw.log", "listening").find("listening"), std::string::npos);
  std::string home = tmp.path() + "/home";
  auto expected = embeddings(in_home(home, embed_args({}, kBert)));
  EXPECT_EQ(embeddings(in_home(home, embed_args({"--gateway", "http://127.0.0.1:" + std::to_string(port)}, cid))),
            expected);
  EXPECT_EQ(in_home(home, {"ipfs", "repo", "verify"}).status, 0);
}

}  // namespace
}  // namespace ia::test
