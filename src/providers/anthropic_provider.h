#pragma once
// Anthropic's Messages API: x-api-key and anthropic-version headers, the
// system prompt as a top-level field, content blocks, max_tokens required, and
// SSE with named events (message_start, content_block_delta, message_delta,
// message_stop as the terminator, ping, error). No embeddings.
#include "providers/provider.h"

namespace ia::providers {

class AnthropicProvider : public Provider {
 public:
  explicit AnthropicProvider(ProviderConfig config) : Provider(std::move(config)) {}
  bool supports(Capability c) const override { return c == Capability::Chat || c == Capability::Models; }
  TextResult chat(const ChatCall& call, const std::string& key, const OnText& on_text) override;
  std::vector<std::string> list_models(const std::string& key) override;

 protected:
  std::vector<std::pair<std::string, std::string>> auth_headers(const std::string& key) const override;
  FailureClass classify(int status, const ErrorBody& body) const override;
};

// Anthropic's stop_reason in OpenAI's finish_reason words.
std::string anthropic_finish_reason(const std::string& stop_reason);

// One Anthropic stream's state, fed each event (name and data).
struct AnthropicStreamState {
  TextResult result;
  bool done = false, cancelled = false;
  bool on_event(const std::string& provider, const std::string& event, const std::string& data, const OnText& on_text);
};

}  // namespace ia::providers
