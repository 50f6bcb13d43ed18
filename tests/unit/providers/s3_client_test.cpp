// The S3 client against the S3 fake (tests/fakes/s3_fake.h), which checks every request's
// SigV4 signature against the request as it arrived.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/base64.h"
#include "fakes/s3_fake.h"
#include "providers/s3_client.h"

namespace ia::providers {
namespace {

S3Endpoint endpoint_of(const test::FakeS3& fake, const std::string& secret = "fake-secret") {
  S3Endpoint e;
  e.endpoint_url = fake.url();
  e.region = "us-east-1";
  e.credentials = {"AKIDFAKE", secret, ""};
  return e;
}

TEST(S3Client, PutGetHeadRangeListSignedAsTheStoreChecks) {
  test::FakeS3 fake("AKIDFAKE", "fake-secret");
  S3Client c(endpoint_of(fake));
  c.put("models", "bert/config.json", "{\"a\":1}", {{"ipfs-cid", "bafyfake"}});
  c.put("models", "bert/sub dir/we$ird+name.txt", "0123456789");
  EXPECT_EQ(fake.object("models", "bert/sub dir/we$ird+name.txt"), "0123456789");
  EXPECT_EQ(c.get("models", "bert/config.json"), "{\"a\":1}");
  EXPECT_EQ(c.get_range("models", "bert/sub dir/we$ird+name.txt", 2, 5), "2345");
  EXPECT_EQ(c.head("models", "bert/config.json").size, 7u);
  for (int i = 0; i < 3; ++i) c.put("models", "bert/w" + std::to_string(i), std::string(i + 1, 'w'));
  const auto all = c.list("models", "bert/");  // 5 keys, pages of 2: three pages
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].key, "bert/config.json");
  EXPECT_EQ(all[4].size, 3u);
  EXPECT_EQ(fake.signature_failures(), 0);
  try {
    c.get("models", "nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
  EXPECT_THROW(c.head("models", "nope"), Error);  // HEAD: 404 without a body
}

TEST(S3Client, AWrongSecretIsRefusedAsTheKeysFault) {
  test::FakeS3 fake("AKIDFAKE", "fake-secret");
  S3Client c(endpoint_of(fake, "wrong"));
  try {
    c.get("models", "x");
    FAIL();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.status(), 403);
    EXPECT_EQ(e.failure(), FailureClass::KeyFault);
    EXPECT_NE(std::string(e.what()).find("SignatureDoesNotMatch"), std::string::npos);
  }
  EXPECT_EQ(fake.requests(), 1);  // not retried
}

TEST(S3Client, SlowDownIsRetriedAndResigned) {
  test::FakeS3 fake("AKIDFAKE", "fake-secret");
  fake.put_object("models", "f", "data");
  S3Client c(endpoint_of(fake));
  fake.slow_down(2);
  EXPECT_EQ(c.get("models", "f"), "data");
  EXPECT_EQ(fake.requests(), 3);
}

TEST(S3Client, MultipartUpload) {
  test::FakeS3 fake("AKIDFAKE", "fake-secret");
  S3Client c(endpoint_of(fake));
  std::string big(11u << 20, 'x');
  big[0] = 'a';
  big.back() = 'z';
  c.put_multipart("models", "big.bin", big, 5u << 20);  // 5 + 5 + 1 MiB
  EXPECT_EQ(fake.object("models", "big.bin"), big);
  EXPECT_EQ(fake.signature_failures(), 0);
}

TEST(S3Client, PutsCarryContentMd5AndMetadataAndHeadReturnsThem) {
  test::FakeS3 fake("AKIDFAKE", "fake-secret");
  S3Client c(endpoint_of(fake));
  const std::string etag = c.put("models", "m/config.json", "{\"a\":1}", {{"sha256", "abc"}});
  EXPECT_EQ(etag, "\"" + hex(md5_raw("{\"a\":1}")) + "\"");  // S3's ETag of a single-part object: its MD5
  EXPECT_EQ(fake.digests_checked(), 1);
  const S3Head h = c.head("models", "m/config.json");
  EXPECT_EQ(h.size, 7u);
  EXPECT_EQ(h.metadata.at("sha256"), "abc");
  c.remove("models", "m/config.json");
  c.remove("models", "m/config.json");  // not there: still fine
  EXPECT_FALSE(fake.object("models", "m/config.json"));
  EXPECT_EQ(fake.signature_failures(), 0);
  EXPECT_EQ(fake.bad_digests(), 0);
}

TEST(S3Client, MultipartStepsFromSeveralThreadsRetriedPartsAndTheStoresChecks) {
  test::FakeS3 fake("AKIDFAKE", "fake-secret");
  fake.min_part_size = 1000;
  S3Client c(endpoint_of(fake));
  const std::string body = std::string(1000, 'a') + std::string(1000, 'b') + "tail";
  const std::string id = c.create_multipart("models", "big.bin", {{"sha256", "s"}});
  std::vector<std::string> etags(3);
  fake.fail_part(2, 1);  // once: the client retries it (re-signed)
  std::vector<std::thread> threads;
  for (int i = 2; i >= 0; --i)
    threads.emplace_back(
        [&, i] { etags[i] = c.upload_part("models", "big.bin", id, i + 1, body.substr(i * 1000, 1000)); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(fake.parts_received(), 3);
  const std::string etag = c.complete_multipart("models", "big.bin", id, etags);
  EXPECT_NE(etag.find("-3"), std::string::npos) << etag;
  EXPECT_EQ(fake.object("models", "big.bin"), body);
  EXPECT_EQ(fake.metadata("models", "big.bin").at("sha256"), "s");
  EXPECT_EQ(fake.open_uploads(), 0u);

  // Parts under the store's minimum are refused at completion, as the caller's fault.
  const std::string small = c.create_multipart("models", "small.bin");
  std::vector<std::string> small_etags{c.upload_part("models", "small.bin", small, 1, "x"),
                                       c.upload_part("models", "small.bin", small, 2, "y")};
  try {
    c.complete_multipart("models", "small.bin", small, small_etags);
    ADD_FAILURE();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::CallerFault);
    EXPECT_NE(std::string(e.what()).find("EntityTooSmall"), std::string::npos) << e.what();
  }
  c.abort_multipart("models", "small.bin", small);
  EXPECT_EQ(fake.open_uploads(), 0u);
  EXPECT_THROW(c.upload_part("models", "small.bin", small, 1, "x"), Error);  // NoSuchUpload after the abort

  // A part that always fails: put_multipart aborts the upload, nothing is stored.
  fake.fail_part(2, -1);
  fake.min_part_size = 5u << 20;
  EXPECT_THROW(c.put_multipart("models", "fails.bin", std::string(11u << 20, 'f'), 5u << 20), ProviderError);
  EXPECT_FALSE(fake.object("models", "fails.bin"));
  EXPECT_EQ(fake.open_uploads(), 0u);
  EXPECT_EQ(fake.aborted_uploads(), 2);
  EXPECT_EQ(fake.signature_failures(), 0);
}

TEST(S3Pool, SpreadsCallsAndBenchesAnEndpointWhoseCredentialsAreRefused) {
  test::FakeS3 a("AKIDFAKE", "fake-secret"), b("AKIDFAKE", "fake-secret");
  for (auto* f : {&a, &b}) f->put_object("models", "x", "data");
  for (S3Selection sel : {S3Selection::LeastLoaded, S3Selection::RoundRobin}) {
    S3Pool pool(S3PoolConfig{{endpoint_of(a), endpoint_of(b)}, sel});
    const int a0 = a.requests(), b0 = b.requests();
    for (int i = 0; i < 6; ++i) EXPECT_EQ(pool.with_endpoint([](S3Client& c) { return c.get("models", "x"); }), "data");
    EXPECT_EQ(a.requests() - a0, 3);  // one at a time: least loaded ties go in turn too
    EXPECT_EQ(b.requests() - b0, 3);
  }
  test::FakeS3 denied("AKIDFAKE", "fake-secret");
  S3Pool pool({endpoint_of(denied, "wrong"), endpoint_of(b)});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pool.with_endpoint([](S3Client& c) { return c.get("models", "x"); }), "data");
  EXPECT_EQ(denied.requests(), 1);  // refused once, then benched for key_cooldown
  EXPECT_EQ(pool.order().back()->endpoint().endpoint_url, denied.url());
}

TEST(S3PoolConfig, EndpointsWithTheirOwnCredentialsAndRegion) {
  const std::map<std::string, std::string> vars{{"A_KEY", "ak"},
                                                {"A_SECRET", "as"},
                                                {"AWS_ACCESS_KEY_ID", "env-id"},
                                                {"AWS_SECRET_ACCESS_KEY", "env-secret"},
                                                {"AWS_REGION", "eu-west-1"}};
  const EnvLookup env = [&](const std::string& n) -> std::optional<std::string> {
    auto it = vars.find(n);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  const auto secret = std::filesystem::temp_directory_path() / ("ia-s3-secret-" + std::to_string(::getpid()));
  std::ofstream(secret) << "file-secret\n";
  const auto c = s3_pool_config_from_json(nlohmann::json::parse(R"({"strategy": "round_robin", "endpoints": [
        {"url": "http://minio-a:9000/", "region": "us-west-2", "access_key_id": {"env": "A_KEY"},
         "secret_access_key": {"env": "A_SECRET"}},
        {"url": "https://r2.example", "access_key_id": {"env": "A_KEY"}, "secret_access_key": {"file": ")" +
                                                                secret.string() + R"("}},
        {}]})"),
                                          env);
  std::filesystem::remove(secret);
  ASSERT_EQ(c.endpoints.size(), 3u);
  EXPECT_EQ(c.selection, S3Selection::RoundRobin);
  EXPECT_EQ(c.endpoints[0].endpoint_url, "http://minio-a:9000");
  EXPECT_EQ(c.endpoints[0].region, "us-west-2");
  EXPECT_EQ(c.endpoints[0].credentials.secret_access_key, "as");
  EXPECT_EQ(c.endpoints[0].credentials_source, "env A_KEY");
  EXPECT_EQ(c.endpoints[1].credentials.secret_access_key, "file-secret");
  EXPECT_EQ(c.endpoints[1].region, "eu-west-1");
  EXPECT_EQ(c.endpoints[2].endpoint_url, "");  // AWS itself, with the AWS variables' credentials
  EXPECT_EQ(c.endpoints[2].credentials.access_key_id, "env-id");
  EXPECT_EQ(c.endpoints[2].label(), "AWS S3 (eu-west-1)");
  auto refused = [&](const std::string& text, const std::string& needle) {
    try {
      s3_pool_config_from_json(nlohmann::json::parse(text), env);
      ADD_FAILURE() << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused(R"({"endpoints": [{"url": "http://x", "access_key_id": "AKIA", "secret_access_key": "s"}]})",
          "never written");
  refused(R"({"endpoints": [{"url": "http://x", "access_key_id": {"env": "A_KEY"}}]})", "both");
  refused(R"({"endpoints": [{"url": "http://x", "access_key_id": {"env": "UNSET"},
              "secret_access_key": {"env": "A_SECRET"}}]})",
          "UNSET");
  refused(R"({"endpoints": [{"url": "ftp://x"}]})", "url");
  refused(R"({"endpoints": [{"uri": "http://x"}]})", "unknown field `uri`");
  refused(R"({"endpoints": []})", "endpoints");
  refused(R"({"endpoints": [{}], "strategy": "random"})", "strategy");
}

TEST(S3Pool, DownloadsAFolderFromTheEndpointThatWorks) {
  test::FakeS3 good("AKIDFAKE", "fake-secret");
  good.put_object("models", "tiny/config.json", "{}");
  good.put_object("models", "tiny/model.safetensors", std::string(1000, 's'));
  good.put_object("models", "tiny/sub/tokenizer.json", "{\"v\":1}");
  good.put_object("models", "other/x", "no");
  S3Endpoint broken;
  broken.endpoint_url = "http://127.0.0.1:1";  // nothing listens
  broken.credentials = {"AKIDFAKE", "fake-secret", ""};
  S3Pool pool({broken, endpoint_of(good)}, HttpTimeouts{std::chrono::milliseconds(500), std::chrono::seconds(5),
                                                        std::chrono::seconds(5), std::chrono::seconds(10)});
  const auto dir = std::filesystem::temp_directory_path() / ("ia-s3-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const auto files = s3_download_prefix(pool, "models", "tiny", dir.string());
  EXPECT_EQ(files.size(), 3u);
  EXPECT_EQ(std::filesystem::file_size(dir / "model.safetensors"), 1000u);
  std::ifstream t(dir / "sub" / "tokenizer.json");
  std::string text((std::istreambuf_iterator<char>(t)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "{\"v\":1}");
  EXPECT_FALSE(std::filesystem::exists(dir / "x"));
  std::filesystem::remove_all(dir);
}

TEST(S3Pool, KeysThatLeaveTheFolderAreRefused) {
  test::FakeS3 fake("AKIDFAKE", "fake-secret");
  fake.put_object("models", "evil/../../etc/x", "no");
  S3Pool pool({endpoint_of(fake)});
  const auto dir = std::filesystem::temp_directory_path() / ("ia-s3-evil-" + std::to_string(::getpid()));
  EXPECT_THROW(s3_download_prefix(pool, "models", "evil/", dir.string()), Error);
  std::filesystem::remove_all(dir);
}

TEST(S3List, ParserBoundsAndMalformedListings) {
  auto p = parse_list_objects_v2(
      "<ListBucketResult><Contents><Key>a&amp;b</Key><Size>5</Size></Contents><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>tok</NextContinuationToken></ListBucketResult>");
  ASSERT_EQ(p.objects.size(), 1u);
  EXPECT_EQ(p.objects[0].key, "a&b");
  EXPECT_EQ(p.next_token, "tok");
  EXPECT_THROW(parse_list_objects_v2("<ListBucketResult><Contents><Key>a</Key>"), Error);
  EXPECT_THROW(parse_list_objects_v2("<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents>"
                                     "</ListBucketResult>"),
               Error);
  EXPECT_THROW(parse_list_objects_v2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"), Error);
  EXPECT_THROW(parse_list_objects_v2("not xml"), Error);
  EXPECT_EQ(parse_s3_url("s3://bucket/models/bert"), (std::pair<std::string, std::string>{"bucket", "models/bert"}));
  EXPECT_THROW(parse_s3_url("http://x"), Error);
}

}  // namespace
}  // namespace ia::providers
