// server/image_url.h: only base64 data: URLs of image/* types are read, within the byte bound;
// everything else is a 400 naming the part.
#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/image_url.h"

namespace ia::server {
namespace {

std::string refusal(const std::string& url, size_t max_bytes = kMaxImageUrlBytes) {
  try {
    image_url_bytes(url, "messages[0].content[0].image_url.url", max_bytes);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    return e.what();
  }
  ADD_FAILURE() << url.substr(0, 80) << " was accepted";
  return {};
}

TEST(ImageUrl, DecodesBase64DataUrls) {
  EXPECT_EQ(image_url_bytes("data:image/png;base64,aGVsbG8=", "p"), "hello");
  EXPECT_EQ(image_url_bytes("DATA:image/jpeg;name=x.jpg;BASE64,aGk=", "p"), "hi");
}

TEST(ImageUrl, RefusesEverythingElse) {
  EXPECT_NE(refusal("https://example.com/cat.png").find("remote image URLs are not fetched"), std::string::npos);
  EXPECT_NE(refusal("http://127.0.0.1/cat.png").find("remote image URLs are not fetched"), std::string::npos);
  EXPECT_NE(refusal("file:///etc/passwd").find("local file URLs are not read"), std::string::npos);
  EXPECT_NE(refusal("/etc/passwd").find("must be a data: URL"), std::string::npos);
  EXPECT_NE(refusal("data:image/png;base64").find("','"), std::string::npos);
  EXPECT_NE(refusal("data:text/plain;base64,aGk=").find("image/*"), std::string::npos);
  EXPECT_NE(refusal("data:image/png,rawbytes").find("base64"), std::string::npos);
  EXPECT_NE(refusal("data:image/png;base64,@@@").find("not valid base64"), std::string::npos);
  EXPECT_NE(refusal("data:image/png;base64,").find("empty"), std::string::npos);
  // Past the bound: refused before decoding (a long payload) or after (just over).
  EXPECT_NE(refusal("data:image/png;base64," + std::string(4000, 'A'), 1024).find("over the limit"), std::string::npos);
  EXPECT_NE(refusal("data:image/png;base64,aGVsbG8=", 4).find("over the limit"), std::string::npos);
}

}  // namespace
}  // namespace ia::server
