#pragma once
// The OPEA ChatQnA megaservice gateway: POST /v1/chatqna with an OpenAI-like
// body (streaming by default), answered whole in OpenAI's chat.completion shape
// or streamed as SSE whose payloads are Python bytes literals (b'tok', with
// \xHH escapes), not JSON, ending with data: [DONE]. Health: /v1/health_check.
#include "providers/provider.h"

namespace ia::providers {

class OpeaProvider : public Provider {
 public:
  explicit OpeaProvider(ProviderConfig config) : Provider(std::move(config)) {}
  bool supports(Capability c) const override { return c == Capability::Chat; }
  TextResult chat(const ChatCall& call, const std::string& key, const OnText& on_text) override;
  void health(const std::string& key) override;
};

// A Python bytes literal's contents as bytes: b'…' or b"…" with \\, \', \", \n, \t, \r, \xHH.
// nullopt when `payload` is not one.
std::optional<std::string> decode_python_bytes(std::string_view payload);

}  // namespace ia::providers
