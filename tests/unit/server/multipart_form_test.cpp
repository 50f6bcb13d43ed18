// multipart/form-data as the OpenAI SDKs and curl -F send it: fields, a file with its name and
// type, binary bytes, and every malformed body refused with a 400.
#include <gtest/gtest.h>

#include <vector>

#include "server/api_error.h"
#include "server/multipart_form.h"

namespace ia::server {
namespace {

using namespace std::string_literals;

const std::string kBody =
    "preamble\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"model\"\r\n"
    "\r\n"
    "whisper\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".wav\"\r\n"
    "Content-Type: audio/wav\r\n"
    "\r\n"
    "RIFF\0\r\n--Xy\xff\r\n"
    "--XyZ  \r\n"
    "Content-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n"
    "\r\n"
    "segment\r\n"
    "--XyZ--\r\n"s;

TEST(MultipartForm, FieldsFilesAndBinaryBytes) {
  const std::string body(kBody.data(), kBody.size());
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=XyZ"), "XyZ");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data;boundary=\"XyZ\""), "XyZ");
  EXPECT_FALSE(multipart_boundary("application/json"));
  const auto parts = parse_multipart_form(body, "XyZ");
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].name, "model");
  EXPECT_FALSE(parts[0].filename);
  EXPECT_EQ(parts[0].data, "whisper");
  EXPECT_EQ(parts[1].name, "file");
  EXPECT_EQ(parts[1].filename, "a \"b\".wav");
  EXPECT_EQ(parts[1].content_type, "audio/wav");
  EXPECT_EQ(parts[1].data, std::string_view("RIFF\0\r\n--Xy\xff", 12));
  EXPECT_EQ(parts[2].name, "timestamp_granularities[]");
  ASSERT_TRUE(find_part(parts, "file"));
  EXPECT_FALSE(find_part(parts, "nope"));
}

TEST(MultipartForm, MalformedBodiesAre400) {
  const std::string part = "Content-Disposition: form-data; name=\"a\"\r\n\r\nx";
  for (const std::string& body : std::vector<std::string>{
           std::string(""), std::string("--B"), "--B\r\n" + part, "--B\r\n" + part + "\r\n--C--",
           "--B\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--B--",
           "--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--", "--B\r\nno colon\r\n\r\nx\r\n--B--",
           "--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--",
           "--B\r\n" + std::string(9000, 'h') + "\r\n\r\nx\r\n--B--", "x--B\r\n" + part + "\r\n--B--",
           "--Bjunk\r\n" + part + "\r\n--B--"}) {
    try {
      parse_multipart_form(body, "B");
      ADD_FAILURE() << "accepted: " << body.substr(0, 80);
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
    }
  }
  std::string many;
  for (int i = 0; i < 70; ++i) many += "--B\r\n" + part + "\r\n";
  many += "--B--";
  EXPECT_THROW(parse_multipart_form(many, "B"), ApiError);
  EXPECT_THROW(multipart_boundary("multipart/form-data"), ApiError);
  EXPECT_THROW(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'a')), ApiError);
}

}  // namespace
}  // namespace ia::server
