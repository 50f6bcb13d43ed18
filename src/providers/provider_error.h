#pragma once
// What went wrong with a remote call, classified the way the protocols in
// docs/providers.md say to act on it: the caller's fault (never retried; the
// CLI's exit 2 with the provider's message), a key's fault (that key is benched,
// another may work), rate limiting (retry after the hint), provider-wide
// overload (retry with backoff; counts toward the provider's breaker), a
// transient failure (timeouts, connection errors) or a broken stream.
#include <chrono>
#include <optional>
#include <string>

#include "core/error.h"

namespace ia::providers {

enum class FailureClass {
  CallerFault,   // 400, 404, 413, 422: the request itself; no retry, no breaker
  KeyFault,      // 401, 402, 403, exhausted quota: bench the key, try another
  RateLimited,   // 429: per-key pressure; retry after the hint
  Overloaded,    // 5xx, Anthropic 529, Ollama 503: provider-wide; retry with backoff
  Transient,     // 408, 409, connect failure, timeouts: retry
  StreamBroken,  // a 200 stream that ended without its marker or was malformed
};

const char* failure_class_name(FailureClass c);
bool is_retryable(FailureClass c);

class ProviderError : public Error {
 public:
  ProviderError(FailureClass cls, int status, const std::string& message,
                std::optional<std::chrono::milliseconds> retry_after = std::nullopt);
  FailureClass failure() const { return cls_; }
  int status() const { return status_; }  // 0: no HTTP status (transport or stream)
  const std::optional<std::chrono::milliseconds>& retry_after() const { return retry_after_; }

 private:
  FailureClass cls_;
  int status_;
  std::optional<std::chrono::milliseconds> retry_after_;
};

// The error kind an edge reports: a caller's fault is InvalidArgument (NotFound for 404), the
// rest Unavailable (another provider or a later try may work).
ErrorKind error_kind_of(FailureClass c, int status);

// The retry class of an HTTP status as the OpenAI/Stainless SDKs treat it (408, 409, 429 and
// 5xx retried); providers refine it (Anthropic's 529, OpenAI's insufficient_quota, …).
FailureClass classify_status(int status);

// The fields common to every provider's error body: {"error":{"message","type","code"}},
// {"error":"msg","error_type"}, {"type":"error","error":{…}}, {"message","type","code"},
// FastAPI's {"detail":…}, S3's XML <Code>/<Message>. Unknown shapes give the body's first
// 200 bytes as the message.
struct ErrorBody {
  std::string message, type, code;
  std::string raw;  // the body itself (bounded by the transport), for provider-specific details
};
ErrorBody parse_error_body(const std::string& body);

}  // namespace ia::providers
