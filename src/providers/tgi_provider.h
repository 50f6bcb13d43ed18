#pragma once
// Hugging Face text-generation-inference: chat through its OpenAI route
// (/v1/chat/completions), text completion through its native /generate and
// /generate_stream (SSE written "data:{…}" without a space; no [DONE]: the
// last event carries generated_text and details; an {"error","error_type"}
// event is a failure inside the stream), health at /health.
#include "providers/openai_compatible.h"

namespace ia::providers {

class TgiProvider : public OpenAICompatibleProvider {
 public:
  explicit TgiProvider(ProviderConfig config) : OpenAICompatibleProvider(std::move(config)) { prefix_ = "/v1"; }
  bool supports(Capability c) const override {
    return c == Capability::Chat || c == Capability::Completion || c == Capability::Models;
  }
  TextResult complete(const CompletionCall& call, const std::string& key, const OnText& on_text) override;
  void health(const std::string& key) override;
};

// TGI's finish_reason (eos_token, stop_sequence, length) in OpenAI's words.
std::string tgi_finish_reason(const std::string& reason);

struct TgiStreamState {
  TextResult result;
  bool done = false, cancelled = false;
  bool on_data(const std::string& provider, const std::string& data, const OnText& on_text);
};

}  // namespace ia::providers
