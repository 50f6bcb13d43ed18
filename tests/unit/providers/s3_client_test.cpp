// The S3 client against the S3 fake (tests/fakes/s3_fake.h), which checks every request's
// SigV4 signature against the request as it arrived.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

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
