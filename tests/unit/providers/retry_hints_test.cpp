#include "providers/retry_hints.h"

#include <gtest/gtest.h>

#include "providers/backoff.h"

namespace ia::providers {
namespace {

using std::chrono::milliseconds;

std::chrono::system_clock::time_point at(int64_t unix_s) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(unix_s));
}

TEST(RetryHints, RetryAfterSecondsIntegerAndFraction) {
  EXPECT_EQ(parse_retry_after("7", at(0)), milliseconds(7000));
  EXPECT_EQ(parse_retry_after(" 1.5 ", at(0)), milliseconds(1500));
  EXPECT_EQ(parse_retry_after("0", at(0)), milliseconds(0));
  EXPECT_FALSE(parse_retry_after("-3", at(0)));
  EXPECT_FALSE(parse_retry_after("soon", at(0)));
  EXPECT_FALSE(parse_retry_after("", at(0)));
}

TEST(RetryHints, RetryAfterHttpDatesAllThreeForms) {
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
  const auto now = at(784111777 - 30);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), milliseconds(30000));
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), milliseconds(30000));
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", now), milliseconds(30000));
  // A date in the past means "now".
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at(784111777 + 100)), milliseconds(0));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:49:37 PST", now));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now));
}

TEST(RetryHints, RetryAfterMs) {
  EXPECT_EQ(parse_retry_after_ms("250"), milliseconds(250));
  EXPECT_EQ(parse_retry_after_ms("12.6"), milliseconds(13));
  EXPECT_FALSE(parse_retry_after_ms("x"));
}

TEST(RetryHints, GoDurations) {
  EXPECT_EQ(parse_go_duration("1s"), milliseconds(1000));
  EXPECT_EQ(parse_go_duration("6m0s"), milliseconds(360000));
  EXPECT_EQ(parse_go_duration("12ms"), milliseconds(12));
  EXPECT_EQ(parse_go_duration("1h16m0.667s"), milliseconds(4560667));
  EXPECT_EQ(parse_go_duration("2m59.56s"), milliseconds(179560));
  EXPECT_EQ(parse_go_duration("1.5s"), milliseconds(1500));  // protobuf Duration JSON (Gemini)
  EXPECT_EQ(parse_go_duration("37s"), milliseconds(37000));
  EXPECT_FALSE(parse_go_duration("5 parsecs"));
  EXPECT_FALSE(parse_go_duration("s"));
  EXPECT_FALSE(parse_go_duration("10"));
}

TEST(RetryHints, Rfc3339Instants) {
  // 2025-01-15T14:24:00Z = 1736951040
  EXPECT_EQ(parse_rfc3339_delay("2025-01-15T14:24:00Z", at(1736951040 - 5)), milliseconds(5000));
  EXPECT_EQ(parse_rfc3339_delay("2025-01-15T15:24:00+01:00", at(1736951040 - 5)), milliseconds(5000));
  EXPECT_EQ(parse_rfc3339_delay("2025-01-15T14:24:00.5Z", at(1736951040)), milliseconds(500));
  EXPECT_FALSE(parse_rfc3339_delay("2025-01-15 14:24:00", at(0)));
}

TEST(RetryHints, HeadersPreferMilliseconds) {
  EXPECT_EQ(retry_hint_from_headers({{"retry-after", "3"}, {"retry-after-ms", "1200"}}, at(0)), milliseconds(1200));
  EXPECT_EQ(retry_hint_from_headers({{"retry-after", "3"}}, at(0)), milliseconds(3000));
  EXPECT_FALSE(retry_hint_from_headers({{"x-ratelimit-reset-requests", "3s"}}, at(0)));
}

TEST(RetryHints, GeminiRetryInfo) {
  const std::string body = R"({"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
    {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel"}]},
    {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}})";
  EXPECT_EQ(gemini_retry_delay(body), milliseconds(37000));
  EXPECT_FALSE(gemini_retry_delay(R"({"error":{"code":429}})"));
  EXPECT_FALSE(gemini_retry_delay("not json"));
}

TEST(Backoff, HonoursHintsWithinTheCapElseFullJitter) {
  BackoffPolicy p;
  std::mt19937_64 rng(1);
  EXPECT_EQ(backoff_delay(p, 0, milliseconds(2000), rng), milliseconds(2000));
  EXPECT_EQ(backoff_delay(p, 3, milliseconds(0), rng), milliseconds(0));
  for (int n = 0; n < 8; ++n) {
    const auto d = backoff_delay(p, n, milliseconds(120'000), rng);  // past max_hint: ignored
    EXPECT_GE(d.count(), 0);
    EXPECT_LE(d.count(), std::min<int64_t>(8000, 500LL << n));
  }
  // Full jitter: the waits differ (not a fixed schedule).
  std::set<int64_t> seen;
  for (int i = 0; i < 20; ++i) seen.insert(backoff_delay(p, 4, std::nullopt, rng).count());
  EXPECT_GT(seen.size(), 10u);
}

}  // namespace
}  // namespace ia::providers
