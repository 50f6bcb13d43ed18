// `--model s3://bucket/prefix` against FakeS3 (tests/fakes/s3_fake.h, which checks every SigV4
// signature) on loopback: the folder downloaded once into $IPFS_ACCELERATE_HOME and embedding as the
// local folder does, reused while the listing is unchanged (one LIST), downloaded again when an
// object changes; an empty prefix, a bad secret and a malformed URL are one line, exit 2.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "fakes/s3_fake.h"
#include "integration/cli_runner.h"

namespace ia::test {
namespace {

namespace fs = std::filesystem;

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";

TEST(CliS3Model, DownloadsOnceReusesWhileUnchangedAndRefusesClearly) {
  FakeS3 s3("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  for (const auto& e : fs::recursive_directory_iterator(kModels + "bert"))
    if (e.is_regular_file())
      s3.put_object("models", "bert/" + fs::relative(e.path(), kModels + "bert").string(), read_file(e.path()));
  TempDir home;
  ScopedEnvVars env;
  env.set("IPFS_ACCELERATE_HOME", home.path());
  env.set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
  env.set("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  env.set("AWS_REGION", "us-east-1");
  env.set("AWS_ENDPOINT_URL", s3.url());

  const CliResult local = run_cli({"embed", "--model", kModels + "bert", "hello world"});
  ASSERT_EQ(local.status, 0) << local.err;
  const CliResult first = run_cli({"embed", "--model", "s3://models/bert", "hello world"});
  ASSERT_EQ(first.status, 0) << first.err;
  EXPECT_EQ(nlohmann::json::parse(first.out)["embeddings"], nlohmann::json::parse(local.out)["embeddings"]);
  const fs::path folder = fs::path(home.path()) / "models" / "s3" / "models" / "bert";
  EXPECT_TRUE(fs::exists(folder / "1_Pooling" / "config.json"));  // keys with "/" become folders
  EXPECT_EQ(s3.signature_failures(), 0);

  // Unchanged: one LIST (a page of 2 keys at a time), no GET.
  const int before = s3.requests();
  const CliResult again = run_cli({"embed", "--model", "s3://models/bert", "hello world"});
  ASSERT_EQ(again.status, 0) << again.err;
  const int files = static_cast<int>(std::distance(fs::recursive_directory_iterator(kModels + "bert"),
                                                   fs::recursive_directory_iterator())) -
                    1;  // 1_Pooling itself
  EXPECT_LE(s3.requests() - before, (files + 1) / 2 + 1);
  // A changed object (its ETag) downloads the folder again.
  s3.put_object("models", "bert/reference.json", read_file(kModels + "bert/reference.json") + "\n");
  const int before_change = s3.requests();
  const CliResult changed = run_cli({"embed", "--model", "s3://models/bert", "hello world"});
  ASSERT_EQ(changed.status, 0) << changed.err;
  EXPECT_GE(s3.requests() - before_change, files);
  EXPECT_EQ(read_file((folder / "reference.json").string()), read_file(kModels + "bert/reference.json") + "\n");
  for (const auto& e : fs::directory_iterator(folder.parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();

  expect_user_error(run_cli({"embed", "--model", "s3://models/nothing", "hi"}), "no objects under this prefix");
  expect_user_error(run_cli({"embed", "--model", "s3://models", "hi"}), "prefix");
  env.set("AWS_SECRET_ACCESS_KEY", "wrong");
  const CliResult denied = run_cli({"embed", "--model", "s3://models/other", "hi"});
  EXPECT_EQ(denied.status, 2) << denied.err;
  EXPECT_EQ(denied.err_lines().size(), 1u) << denied.err;
  EXPECT_FALSE(fs::exists(fs::path(home.path()) / "models" / "s3" / "models" / "other"));
}

}  // namespace
}  // namespace ia::test
