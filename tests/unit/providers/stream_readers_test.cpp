#include "providers/stream_readers.h"

#include <gtest/gtest.h>

#include "providers/provider_error.h"

namespace ia::providers {
namespace {

std::vector<SseEvent> parse_sse(const std::vector<std::string>& pieces, bool finish = true) {
  std::vector<SseEvent> out;
  SseReader r([&](const SseEvent& e) {
    out.push_back(e);
    return true;
  });
  for (const auto& p : pieces) r.feed(p);
  if (finish) r.finish();
  return out;
}

TEST(SseReader, DataLinesWithAndWithoutSpaceAndEventNames) {
  auto ev = parse_sse({"data: {\"a\":1}\n\n", "data:{\"b\":2}\n\n", "event: message_stop\ndata: {}\n\n"});
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].data, "{\"a\":1}");
  EXPECT_EQ(ev[1].data, "{\"b\":2}");
  EXPECT_EQ(ev[2].event, "message_stop");
  EXPECT_EQ(ev[2].data, "{}");
}

TEST(SseReader, SplitAnywhereCrLfAndCommentsAndMultiLineData) {
  const std::string stream = ": keep-alive\r\n\r\nevent: x\r\ndata: one\r\ndata: two\r\n\r\ndata: [DONE]\r\n\r\n";
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    auto ev = parse_sse({stream.substr(0, cut), stream.substr(cut)});
    ASSERT_EQ(ev.size(), 2u) << "cut at " << cut;
    EXPECT_EQ(ev[0].event, "x");
    EXPECT_EQ(ev[0].data, "one\ntwo");
    EXPECT_EQ(ev[1].event, "");
    EXPECT_EQ(ev[1].data, "[DONE]");
  }
  // Lone CR line ends.
  auto ev = parse_sse({"data: a\r\rdata: b\r\r"});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].data, "b");
}

TEST(SseReader, RawJsonLineOfOvmsIsAnEvent) {
  auto ev = parse_sse({"data: {\"x\":1}\n\n{\"error\":\"Mediapipe execution failed\"}\n\n"});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].data, "{\"error\":\"Mediapipe execution failed\"}");
}

TEST(SseReader, TrailingEventWithoutBlankLineIsDispatchedAtFinish) {
  auto ev = parse_sse({"data: last"});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "last");
  EXPECT_TRUE(parse_sse({"data: last"}, /*finish=*/false).empty());
}

TEST(SseReader, StopsWhenAsked) {
  int n = 0;
  SseReader r([&](const SseEvent&) { return ++n < 2; });
  EXPECT_FALSE(r.feed("data: 1\n\ndata: 2\n\ndata: 3\n\n"));
  EXPECT_EQ(n, 2);
}

TEST(SseReader, AnOverlongLineOrEventIsABrokenStreamNotUnboundedMemory) {
  SseReader r([](const SseEvent&) { return true; }, 1024);
  const std::string block(300, 'a');
  r.feed("data: ");
  try {
    for (int i = 0; i < 100; ++i) r.feed(block);
    FAIL() << "no bound";
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::StreamBroken);
  }
  SseReader multi([](const SseEvent&) { return true; }, 1024);
  EXPECT_THROW(
      {
        for (int i = 0; i < 100; ++i) multi.feed("data: " + block + "\n");
      },
      ProviderError);
}

TEST(LineReader, NdjsonLinesSplitAnywhere) {
  const std::string s = "{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    std::vector<std::string> lines;
    LineReader r([&](std::string_view l) {
      lines.emplace_back(l);
      return true;
    });
    r.feed(s.substr(0, cut));
    r.feed(s.substr(cut));
    r.finish();
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[1], "{\"b\":2}");
    EXPECT_EQ(lines[2], "{\"c\":3}");
  }
  LineReader bounded([](std::string_view) { return true; }, 100);
  EXPECT_THROW(bounded.feed(std::string(200, 'x')), ProviderError);
}

TEST(ErrorBodies, EveryProviderShape) {
  auto b = parse_error_body(
      R"({"error":{"message":"Incorrect API key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})");
  EXPECT_EQ(b.message, "Incorrect API key");
  EXPECT_EQ(b.code, "invalid_api_key");
  b = parse_error_body(
      R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"})");
  EXPECT_EQ(b.type, "overloaded_error");
  b = parse_error_body(R"({"error":"batch size 64 > maximum allowed batch size 32","error_type":"Validation"})");
  EXPECT_EQ(b.type, "Validation");
  EXPECT_EQ(b.message, "batch size 64 > maximum allowed batch size 32");
  b = parse_error_body(R"({"message":"too long","code":422,"type":"Validation"})");
  EXPECT_EQ(b.message, "too long");
  EXPECT_EQ(b.code, "422");
  b = parse_error_body(R"({"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}})");
  EXPECT_EQ(b.type, "RESOURCE_EXHAUSTED");
  b = parse_error_body(R"({"detail":[{"loc":["body"],"msg":"field required"}]})");
  EXPECT_NE(b.message.find("field required"), std::string::npos);
  b = parse_error_body(
      "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not "
      "exist.</Message></Error>");
  EXPECT_EQ(b.code, "NoSuchKey");
  b = parse_error_body("Internal Server Error");
  EXPECT_EQ(b.message, "Internal Server Error");
}

}  // namespace
}  // namespace ia::providers
