#pragma once
// Google's Gemini API (Generative Language, v1beta): x-goog-api-key, the
// system prompt as systemInstruction, roles user/model, generateContent and
// streamGenerateContent?alt=sse (SSE whose end is the connection's close: the
// last chunk carries finishReason), batchEmbedContents, GET /models; retry
// hints in the error body's google.rpc.RetryInfo, and a per-day quota 429
// treated as the key's (its breaker opens) rather than a passing limit.
#include "providers/provider.h"

namespace ia::providers {

class GeminiProvider : public Provider {
 public:
  explicit GeminiProvider(ProviderConfig config) : Provider(std::move(config)) {}
  bool supports(Capability c) const override {
    return c == Capability::Chat || c == Capability::Embedding || c == Capability::Models;
  }
  TextResult chat(const ChatCall& call, const std::string& key, const OnText& on_text) override;
  EmbedResult embed(const EmbedCall& call, const std::string& key) override;
  std::vector<std::string> list_models(const std::string& key) override;

 protected:
  std::vector<std::pair<std::string, std::string>> auth_headers(const std::string& key) const override;
  FailureClass classify(int status, const ErrorBody& body) const override;
  std::optional<std::chrono::milliseconds> retry_hint(const HttpResponse& r) const override;
};

// Gemini's finishReason in OpenAI's words.
std::string gemini_finish_reason(const std::string& reason);

// One Gemini stream's state, fed each event's data.
struct GeminiStreamState {
  TextResult result;
  bool finished = false, cancelled = false;
  bool on_data(const std::string& provider, const std::string& data, const OnText& on_text);
};

}  // namespace ia::providers
