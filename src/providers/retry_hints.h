#pragma once
// Every retry hint the protocols send (docs/providers.md, "Retry hints"):
//   Retry-After: integer or fractional seconds, or an HTTP date (RFC 9110: IMF-fixdate,
//                RFC 850, asctime)
//   retry-after-ms: milliseconds (OpenAI / Anthropic SDKs)
//   Go durations: "1m30.5s", "120ms", "6m0s" (OpenAI / Groq x-ratelimit-reset-*)
//   protobuf durations: "37s", "1.5s" (Gemini's google.rpc.RetryInfo.retryDelay)
//   RFC 3339 instants: "2025-01-15T14:24:00Z" (Anthropic's *-reset headers)
// Each parser returns nullopt for a value it cannot read (a hint is advice: a malformed
// one is ignored, never an error) and clamps negatives to zero.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ia::providers {

using Millis = std::chrono::milliseconds;

std::optional<Millis> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now);
std::optional<Millis> parse_retry_after_ms(std::string_view value);
std::optional<Millis> parse_go_duration(std::string_view value);
std::optional<Millis> parse_rfc3339_delay(std::string_view value, std::chrono::system_clock::time_point now);
// The HTTP date forms of Retry-After, as a time point.
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view value);

// The hint of a response's headers (names lower-cased): retry-after-ms first, then
// retry-after, as the official SDKs read them.
std::optional<Millis> retry_hint_from_headers(const std::map<std::string, std::string>& headers,
                                              std::chrono::system_clock::time_point now);

// Gemini: the retryDelay of a google.rpc.RetryInfo in an error body's details[].
std::optional<Millis> gemini_retry_delay(const std::string& error_body);

}  // namespace ia::providers
