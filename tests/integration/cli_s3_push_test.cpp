// `models push DIR s3://bucket/prefix` against FakeS3 (tests/fakes/s3_fake.h: every SigV4
// signature, Content-MD5 and multipart part list checked) on loopback: a folder pushed, pushed
// again with everything skipped, pulled back byte for byte with its manifest's CID checked;
// multipart uploads with a part retried and a part that always fails (no manifest; the upload kept
// and resumed by the next push, which sends only the missing parts; stale states start over);
// several endpoints of one store, each with its own credentials; a damaged object failing the
// pull with nothing left behind; and the refusals, one line and exit 2 each.
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include <nlohmann/json.hpp>

#include "fakes/s3_fake.h"
#include "integration/cli_runner.h"
#include "ipfs/folder_manifest.h"

namespace ia::test {
namespace {

namespace fs = std::filesystem;

const std::string kId = "AKIDEXAMPLE", kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const std::string kManifestKey = std::string("/") + ipfs::kFolderManifestName;

// The environment a user of one S3 endpoint has.
void point_at(ScopedEnvVars& env, const FakeS3& s3, const TempDir& home) {
  env.set("IPFS_ACCELERATE_HOME", home.path());
  env.set("AWS_ACCESS_KEY_ID", kId);
  env.set("AWS_SECRET_ACCESS_KEY", kSecret);
  env.set("AWS_REGION", "us-east-1");
  env.set("AWS_ENDPOINT_URL", s3.url());
}

// The requests that change the store, in order.
std::vector<std::string> writes(const FakeS3& s3) {
  std::vector<std::string> out;
  for (const auto& l : s3.log())
    if (l.rfind("PUT ", 0) == 0 || l.rfind("POST ", 0) == 0 || l.rfind("DELETE ", 0) == 0) out.push_back(l);
  return out;
}

// The files of `dir` a push publishes, relative, with their bytes.
std::map<std::string, std::string> published(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& f : ipfs::folder_files(dir, nullptr)) out[f] = read_file(dir + "/" + f);
  return out;
}

uint64_t total_size(const std::map<std::string, std::string>& files) {
  return std::accumulate(files.begin(), files.end(), uint64_t{0},
                         [](uint64_t n, const auto& f) { return n + f.second.size(); });
}

TEST(CliS3Push, PushSkipsWhatIsThereAndPullsBackVerified) {
  FakeS3 s3(kId, kSecret);
  TempDir home, work;
  ScopedEnvVars env;
  point_at(env, s3, home);
  const std::string dir = work.path() + "/bert";
  copy_model("bert", dir);
  fs::create_directories(dir + "/.git");
  write_file(dir + "/.git/HEAD", "ref: refs/heads/main\n");
  write_file(dir + "/model.safetensors.partial", "half");
  const auto files = published(dir);
  ASSERT_GT(files.size(), 4u);

  const CliResult push = run_cli({"models", "push", dir, "s3://models/bert"});
  ASSERT_EQ(push.status, 0) << push.err;
  const auto j = nlohmann::json::parse(push.out);
  EXPECT_EQ(j["uploaded"].size(), files.size());
  EXPECT_EQ(j["unchanged"].size(), 0u);
  EXPECT_EQ(j["bytes_uploaded"], total_size(files));
  EXPECT_EQ(j["manifest_written"], true);
  EXPECT_EQ(j["skipped"], nlohmann::json::parse(R"([{"path": ".git", "reason": "hidden"},
      {"path": "model.safetensors.partial", "reason": "temporary"}])"));
  EXPECT_NE(push.err.find("skipped .git (hidden)"), std::string::npos) << push.err;
  EXPECT_NE(push.err.find("files uploaded"), std::string::npos) << push.err;
  for (const auto& [rel, bytes] : files) {
    EXPECT_EQ(s3.object("models", "bert/" + rel), bytes) << rel;
    EXPECT_EQ(s3.metadata("models", "bert/" + rel).at("sha256"), providers::sha256_hex(bytes)) << rel;
  }
  EXPECT_FALSE(s3.object("models", "bert/.git/HEAD"));
  EXPECT_FALSE(s3.object("models", "bert/model.safetensors.partial"));
  // The manifest names every file and the folder's CID, and went last.
  const auto manifest_text = s3.object("models", "bert" + kManifestKey);
  ASSERT_TRUE(manifest_text);
  const ipfs::FolderManifest m = ipfs::parse_folder_manifest(*manifest_text);
  EXPECT_EQ(m.cid, j["cid"]);
  EXPECT_EQ(m.files.size(), files.size());
  EXPECT_EQ(writes(s3).back(), "PUT bert" + kManifestKey);
  EXPECT_EQ(s3.digests_checked(), static_cast<int>(files.size()) + 1);  // every PUT carried Content-MD5
  EXPECT_EQ(s3.signature_failures(), 0);

  // Again: nothing to upload, nothing written.
  const size_t writes_before = writes(s3).size();
  const CliResult again = run_cli({"models", "push", dir, "s3://models/bert"});
  ASSERT_EQ(again.status, 0) << again.err;
  const auto j2 = nlohmann::json::parse(again.out);
  EXPECT_EQ(j2["uploaded"].size(), 0u);
  EXPECT_EQ(j2["unchanged"].size(), files.size());
  EXPECT_EQ(j2["bytes_unchanged"], total_size(files));
  EXPECT_EQ(j2["bytes_uploaded"], 0);
  EXPECT_EQ(j2["manifest_written"], false);
  EXPECT_EQ(j2["cid"], j["cid"]);
  EXPECT_EQ(writes(s3).size(), writes_before);
  // One changed file: only it, and the manifest again (the old one deleted first).
  write_file(dir + "/reference.json", read_file(dir + "/reference.json") + "\n");
  const CliResult changed = run_cli({"models", "push", dir, "s3://models/bert"});
  ASSERT_EQ(changed.status, 0) << changed.err;
  const auto j3 = nlohmann::json::parse(changed.out);
  ASSERT_EQ(j3["uploaded"].size(), 1u);
  EXPECT_EQ(j3["uploaded"][0]["path"], "reference.json");
  EXPECT_NE(j3["cid"], j["cid"]);
  const auto w = writes(s3);
  ASSERT_EQ(w.size(), writes_before + 3);
  EXPECT_EQ(w[writes_before], "DELETE bert" + kManifestKey);
  EXPECT_EQ(w[writes_before + 1], "PUT bert/reference.json");
  EXPECT_EQ(w[writes_before + 2], "PUT bert" + kManifestKey);

  // Pulled back: the same bytes, the same embeddings, and `ipfs add -r` of the folder gives the CID.
  const CliResult local = run_cli({"embed", "--model", dir, "hello world"});
  ASSERT_EQ(local.status, 0) << local.err;
  const CliResult pulled = run_cli({"embed", "--model", "s3://models/bert", "hello world"});
  ASSERT_EQ(pulled.status, 0) << pulled.err;
  EXPECT_EQ(nlohmann::json::parse(pulled.out)["embeddings"], nlohmann::json::parse(local.out)["embeddings"]);
  const std::string folder = home.path() + "/models/s3/models/bert";
  EXPECT_EQ(published(folder), published(dir));
  EXPECT_EQ(read_file(folder + kManifestKey), *s3.object("models", "bert" + kManifestKey));
  const CliResult add = run_cli({"ipfs", "add", "-r", "-n", "-Q", folder});
  ASSERT_EQ(add.status, 0) << add.err;
  EXPECT_EQ(add.out, j3["cid"].get<std::string>() + "\n");
  EXPECT_EQ(s3.signature_failures(), 0);
}

TEST(CliS3Push, LargeFilesGoInPartsRetriedOrAbortedWithoutAManifest) {
  FakeS3 s3(kId, kSecret);
  TempDir home, work;
  ScopedEnvVars env;
  point_at(env, s3, home);
  const std::string dir = work.path() + "/big";
  fs::create_directories(dir);
  write_file(dir + "/config.json", "{\"model_type\": \"bert\"}");
  std::string weights(11u << 20, '\0');
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<char>((i * 2654435761u) >> 13);
  write_file(dir + "/weights.bin", weights);

  const CliResult push = run_cli({"models", "push", dir, "s3://models/big", "--part-size", "5MiB"});
  ASSERT_EQ(push.status, 0) << push.err;
  const auto j = nlohmann::json::parse(push.out);
  const auto& up = j["uploaded"];
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[1]["path"], "weights.bin");
  EXPECT_EQ(up[1]["parts"], 3);  // 5 + 5 + 1 MiB
  EXPECT_FALSE(up[0].contains("parts"));
  EXPECT_EQ(s3.completed_uploads(), 1);
  EXPECT_EQ(s3.parts_received(), 3);
  EXPECT_EQ(s3.object("models", "big/weights.bin"), weights);
  EXPECT_EQ(s3.metadata("models", "big/weights.bin").at("sha256"), providers::sha256_hex(weights));
  EXPECT_NE(s3.etag("models", "big/weights.bin").find("-3"), std::string::npos);
  EXPECT_EQ(s3.digests_checked(), 3 + 2);  // each part, the small file, the manifest

  // A part that fails once is sent again; the upload completes.
  weights[7u << 20] ^= 1;
  write_file(dir + "/weights.bin", weights);
  s3.fail_part(2, 1);
  const CliResult retried = run_cli({"models", "push", dir, "s3://models/big", "--part-size", "5MiB"});
  ASSERT_EQ(retried.status, 0) << retried.err;
  EXPECT_EQ(s3.completed_uploads(), 2);
  EXPECT_EQ(s3.parts_received(), 6);
  EXPECT_EQ(s3.object("models", "big/weights.bin"), weights);
  EXPECT_TRUE(s3.object("models", "big" + kManifestKey));

  // A part that always fails: the upload is kept for the next push to resume, the stored object
  // stays the last complete one, and the prefix has no manifest (the old one was removed before
  // the upload began).
  const std::string before = weights;
  weights[1] ^= 1;
  write_file(dir + "/weights.bin", weights);
  s3.fail_part(2, -1);
  const CliResult failed = run_cli({"models", "push", dir, "s3://models/big", "--part-size", "5MiB"});
  EXPECT_EQ(failed.status, 2) << failed.err;
  EXPECT_TRUE(failed.out.empty()) << failed.out;
  ASSERT_FALSE(failed.err_lines().empty());
  EXPECT_NE(failed.err_lines().back().find("InternalError"), std::string::npos) << failed.err;
  EXPECT_NE(failed.err_lines().back().find("2 of 3 parts are stored; push again to resume"), std::string::npos)
      << failed.err;
  EXPECT_EQ(s3.aborted_uploads(), 0);
  EXPECT_EQ(s3.open_uploads(), 1u);
  EXPECT_EQ(s3.object("models", "big/weights.bin"), before);
  EXPECT_FALSE(s3.object("models", "big" + kManifestKey));
  // Pushed again once the store takes part 2: only that part goes.
  s3.fail_part(2, 0);
  const int parts_before = s3.parts_received();
  const CliResult resumed = run_cli({"models", "push", dir, "s3://models/big", "--part-size", "5MiB"});
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_EQ(nlohmann::json::parse(resumed.out)["uploaded"][0]["resumed_parts"], 2) << resumed.out;
  EXPECT_EQ(s3.parts_received(), parts_before + 1);
  EXPECT_EQ(s3.object("models", "big/weights.bin"), weights);
  EXPECT_EQ(s3.open_uploads(), 0u);
  EXPECT_TRUE(s3.object("models", "big" + kManifestKey));
  EXPECT_EQ(s3.signature_failures(), 0);
}

// The upload states kept under $IPFS_ACCELERATE_HOME/s3-uploads.
size_t upload_states(const TempDir& home) {
  const fs::path dir = fs::path(home.path()) / "s3-uploads";
  if (!fs::exists(dir)) return 0;
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

TEST(CliS3Push, AnInterruptedPushResumesWithOnlyTheMissingParts) {
  FakeS3 s3(kId, kSecret);
  s3.parts_page_size = 1;  // ListParts in pages: the resume reads every one
  TempDir home, work;
  ScopedEnvVars env;
  point_at(env, s3, home);
  const std::string dir = work.path() + "/big";
  fs::create_directories(dir);
  std::string weights((15u << 20) + 12345, '\0');  // 4 parts of 5 MiB: 5 + 5 + 5 + 12345 bytes
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<char>((i * 40503u) >> 7);
  write_file(dir + "/weights.bin", weights);
  const std::vector<std::string> push = {"models", "push",          dir, "s3://models/m", "--part-size",
                                         "5MiB",   "--concurrency", "1"};

  // Part 3 fails hard: parts 1 and 2 are stored, and the push stops there.
  s3.fail_part(3, -1);
  const CliResult cut = run_cli(push);
  ASSERT_EQ(cut.status, 2) << cut.err;
  EXPECT_NE(cut.err.find("2 of 4 parts are stored; push again to resume"), std::string::npos) << cut.err;
  EXPECT_EQ(s3.parts_received(), 2);
  EXPECT_EQ(s3.open_uploads(), 1u);
  EXPECT_EQ(upload_states(home), 1u);

  // The rerun lists the parts (ListParts, signed), sends parts 3 and 4 only, completes.
  s3.fail_part(3, 0);
  const CliResult resumed = run_cli(push);
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  const auto j = nlohmann::json::parse(resumed.out);
  EXPECT_EQ(j["uploaded"][0]["parts"], 4);
  EXPECT_EQ(j["uploaded"][0]["resumed_parts"], 2);
  EXPECT_EQ(s3.parts_received(), 4);
  EXPECT_EQ(s3.completed_uploads(), 1);
  EXPECT_EQ(s3.object("models", "m/weights.bin"), weights);
  EXPECT_EQ(s3.etag("models", "m/weights.bin").substr(s3.etag("models", "m/weights.bin").size() - 2), "-4");
  EXPECT_EQ(upload_states(home), 0u);
  EXPECT_EQ(s3.open_uploads(), 0u);
  size_t listings = 0;
  for (const auto& l : s3.log())
    listings += l.rfind("GET m/weights.bin?", 0) == 0 && l.find("uploadId=") != std::string::npos;
  EXPECT_GE(listings, 2u) << "ListParts paged";
  EXPECT_EQ(s3.signature_failures(), 0);

  // The file changed after an interrupted push: the old upload is aborted, the new one sends all.
  s3.fail_part(2, -1);
  weights[3] ^= 1;
  write_file(dir + "/weights.bin", weights);
  ASSERT_EQ(run_cli(push).status, 2);
  EXPECT_EQ(s3.open_uploads(), 1u);
  s3.fail_part(2, 0);
  weights[4] ^= 1;
  write_file(dir + "/weights.bin", weights);
  int parts_before = s3.parts_received();
  const CliResult changed = run_cli(push);
  ASSERT_EQ(changed.status, 0) << changed.err;
  EXPECT_FALSE(nlohmann::json::parse(changed.out)["uploaded"][0].contains("resumed_parts"));
  EXPECT_EQ(s3.parts_received(), parts_before + 4);
  EXPECT_EQ(s3.aborted_uploads(), 1);
  EXPECT_EQ(s3.open_uploads(), 0u);
  EXPECT_EQ(s3.object("models", "m/weights.bin"), weights);

  // The upload is gone from the store (expired): NoSuchUpload, and the push starts over cleanly.
  s3.fail_part(4, -1);
  weights[5] ^= 1;
  write_file(dir + "/weights.bin", weights);
  ASSERT_EQ(run_cli(push).status, 2);
  s3.fail_part(4, 0);
  s3.expire_uploads();
  parts_before = s3.parts_received();
  const CliResult gone = run_cli(push);
  ASSERT_EQ(gone.status, 0) << gone.err;
  EXPECT_EQ(s3.parts_received(), parts_before + 4);
  EXPECT_EQ(s3.object("models", "m/weights.bin"), weights);
  EXPECT_EQ(upload_states(home), 0u);
  EXPECT_EQ(s3.open_uploads(), 0u);

  // A state file that is not one is no state: the push starts over.
  fs::create_directories(fs::path(home.path()) / "s3-uploads");
  const std::string state =
      home.path() + "/s3-uploads/" + providers::sha256_hex("models/m/weights.bin").substr(0, 32) + ".json";
  write_file(state, "{not json");
  weights[6] ^= 1;
  write_file(dir + "/weights.bin", weights);
  ASSERT_EQ(run_cli(push).status, 0);
  EXPECT_EQ(s3.object("models", "m/weights.bin"), weights);
  EXPECT_FALSE(fs::exists(state));
}

TEST(CliS3Push, SeveralEndpointsOfOneStoreEachWithItsOwnCredentials) {
  FakeS3 s3("AKIDA", "secret-a");
  const std::string second = s3.add_endpoint("AKIDB", "secret-b", "eu-west-1");
  TempDir home, work;
  ScopedEnvVars env;
  env.set("IPFS_ACCELERATE_HOME", home.path());
  env.unset("AWS_ACCESS_KEY_ID");
  env.unset("AWS_SECRET_ACCESS_KEY");
  env.unset("AWS_ENDPOINT_URL");
  env.unset("AWS_ENDPOINT_URL_S3");
  env.set("A_ID", "AKIDA");
  env.set("A_SECRET", "secret-a");
  env.set("B_ID", "AKIDB");
  write_file(work.path() + "/b-secret", "secret-b\n");
  const std::string providers = work.path() + "/providers.json";
  write_file(providers, R"({"s3": {"strategy": "round_robin", "endpoints": [
      {"url": ")" + s3.url(0) +
                            R"(", "access_key_id": {"env": "A_ID"}, "secret_access_key": {"env": "A_SECRET"}},
      {"url": ")" + second + R"(", "region": "eu-west-1", "access_key_id": {"env": "B_ID"},
       "secret_access_key": {"file": ")" +
                            work.path() + R"(/b-secret"}}]}})");

  const std::string dir = work.path() + "/bert";
  copy_model("bert", dir);
  const CliResult push = run_cli({"models", "push", dir, "s3://models/bert", "--providers", providers});
  ASSERT_EQ(push.status, 0) << push.err;
  EXPECT_GT(s3.requests_at(0), 2);
  EXPECT_GT(s3.requests_at(1), 2);
  EXPECT_EQ(s3.signature_failures(), 0);
  EXPECT_TRUE(s3.object("models", "bert" + kManifestKey));

  // Pulled through both, with the root option.
  const int a0 = s3.requests_at(0), b0 = s3.requests_at(1);
  const CliResult pulled = run_cli({"--s3-providers", providers, "inspect", "--model", "s3://models/bert"});
  ASSERT_EQ(pulled.status, 0) << pulled.err;
  EXPECT_GT(s3.requests_at(0) - a0, 1);
  EXPECT_GT(s3.requests_at(1) - b0, 1);
  EXPECT_EQ(s3.signature_failures(), 0);

  // Endpoint URLs alone take the AWS variables' credentials; a wrong one for a single endpoint is refused.
  env.set("AWS_ACCESS_KEY_ID", "AKIDA");
  env.set("AWS_SECRET_ACCESS_KEY", "secret-a");
  const CliResult by_url = run_cli({"models", "push", dir, "s3://models/bert", "--endpoint", s3.url(0)});
  ASSERT_EQ(by_url.status, 0) << by_url.err;
  EXPECT_EQ(nlohmann::json::parse(by_url.out)["uploaded"].size(), 0u);
  expect_user_error(run_cli({"models", "push", dir, "s3://models/bert", "--endpoint", second, "--quiet"}),
                    "SignatureDoesNotMatch");
}

TEST(CliS3Push, ADamagedObjectFailsThePullAndLeavesNothing) {
  FakeS3 s3(kId, kSecret);
  TempDir home, work;
  ScopedEnvVars env;
  point_at(env, s3, home);
  const std::string dir = work.path() + "/bert";
  copy_model("bert", dir);
  ASSERT_EQ(run_cli({"models", "push", dir, "s3://models/bert"}).status, 0);
  s3.corrupt_object("models", "bert/model.safetensors");  // same size, ETag and metadata: only the bytes differ

  const fs::path parent = fs::path(home.path()) / "models" / "s3" / "models";
  const CliResult r = run_cli({"inspect", "--model", "s3://models/bert", "--quiet"});
  expect_user_error(r, "model.safetensors: sha256");
  EXPECT_NE(r.err.find("manifest"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(parent / "bert"));
  if (fs::exists(parent))
    for (const auto& e : fs::directory_iterator(parent)) ADD_FAILURE() << "left behind: " << e.path();

  // A manifest naming an object the store lacks (a push under way, or a deletion) is refused too.
  ASSERT_EQ(run_cli({"models", "push", dir, "s3://models/bert2"}).status, 0);
  s3.remove_object("models", "bert2/config.json");
  expect_user_error(run_cli({"inspect", "--model", "s3://models/bert2", "--quiet"}), "does not hold");
  EXPECT_FALSE(fs::exists(parent / "bert2"));
}

TEST(CliS3Push, RefusalsAreOneLine) {
  FakeS3 s3(kId, kSecret);
  TempDir home, work;
  ScopedEnvVars env;
  point_at(env, s3, home);
  const std::string dir = work.path() + "/bert";
  copy_model("bert", dir);

  expect_user_error(run_cli({"models", "push", dir, "http://models/bert", "--quiet"}), "s3://");
  expect_user_error(run_cli({"models", "push", dir, "s3://models", "--quiet"}), "prefix");
  expect_user_error(run_cli({"models", "push", dir, "s3:///x", "--quiet"}), "bucket");
  expect_user_error(run_cli({"models", "push", work.path() + "/none", "s3://models/x", "--quiet"}), "no such folder");
  expect_user_error(run_cli({"models", "push", dir, "s3://models/x", "--part-size", "1MiB", "--quiet"}), "5 MiB");
  expect_user_error(run_cli({"models", "push", dir, "s3://models/x", "--part-size", "lots", "--quiet"}), "size");
  expect_user_error(run_cli({"models", "push", dir, "s3://models/x", "--endpoint", "ftp://x", "--quiet"}), "ftp://x");
  expect_user_error(
      run_cli({"models", "push", dir, "s3://models/x", "--providers", work.path() + "/missing.json", "--quiet"}),
      "missing.json");

  // A dry run hashes, lists and compares: nothing is written.
  const CliResult dry = run_cli({"models", "push", dir, "s3://models/x", "--dry-run"});
  ASSERT_EQ(dry.status, 0) << dry.err;
  const auto j = nlohmann::json::parse(dry.out);
  EXPECT_EQ(j["dry_run"], true);
  EXPECT_EQ(j["uploaded"].size(), published(dir).size());
  EXPECT_EQ(j["manifest_written"], false);
  EXPECT_TRUE(writes(s3).empty());
  EXPECT_TRUE(s3.keys("models").empty());

  // The store refuses writes (a read-only key): one line, nothing stored.
  s3.deny_writes(true);
  expect_user_error(run_cli({"models", "push", dir, "s3://models/x", "--quiet"}), "AccessDenied");
  s3.deny_writes(false);
  EXPECT_TRUE(s3.keys("models").empty());
  // A wrong secret: the store's 403, one line.
  env.set("AWS_SECRET_ACCESS_KEY", "wrong");
  const CliResult denied = run_cli({"models", "push", dir, "s3://models/x", "--quiet"});
  expect_user_error(denied, "403");
  EXPECT_NE(denied.err.find("SignatureDoesNotMatch"), std::string::npos) << denied.err;
  // No credentials at all.
  env.unset("AWS_ACCESS_KEY_ID");
  env.unset("AWS_SECRET_ACCESS_KEY");
  expect_user_error(run_cli({"models", "push", dir, "s3://models/x", "--quiet"}), "no S3 credentials");
  EXPECT_TRUE(s3.keys("models").empty());
}

}  // namespace
}  // namespace ia::test
