#pragma once
// The OpenAI wire format (chat/completions, completions, embeddings, models,
// audio transcriptions and translations as multipart uploads, SSE chunks ending
// in "data: [DONE]", errors as data events) and the services that speak it:
// OpenAI itself, Groq, vLLM, OVMS (/v3) and TGI's /v1 routes.
// They differ in defaults, auth and a few retry signals, given by the type.
#include "providers/provider.h"

namespace ia::providers {

class OpenAICompatibleProvider : public Provider {
 public:
  explicit OpenAICompatibleProvider(ProviderConfig config);
  bool supports(Capability c) const override;
  TextResult chat(const ChatCall& call, const std::string& key, const OnText& on_text) override;
  TextResult complete(const CompletionCall& call, const std::string& key, const OnText& on_text) override;
  EmbedResult embed(const EmbedCall& call, const std::string& key) override;
  TranscriptionResult transcribe(const TranscribeCall& call, const std::string& key, const OnText& on_text) override;
  std::vector<std::string> list_models(const std::string& key) override;
  void health(const std::string& key) override;

 protected:
  std::string prefix_;  // before the OpenAI paths: "" (base_url ends in /v1) or "/v1" (TGI's root)
  FailureClass classify(int status, const ErrorBody& body) const override;
  // The body's sampling fields (max_tokens named as the service wants it).
  void put_params(nlohmann::json& body, const GenerationParams& p) const;
  // POSTs `body` to `path`, whole or streamed; `chat` picks where a chunk's text is.
  TextResult run(const std::string& path, nlohmann::json body, const std::string& key, const OnText& on_text,
                 bool chat);
};

// One OpenAI stream's state: fed each SSE event's data, it forwards text and keeps the finish
// reason and usage. Shared by every OpenAI-shaped stream (OPEA's is not).
struct OpenAIStreamState {
  TextResult result;
  bool done = false;       // "[DONE]" seen
  bool cancelled = false;  // the caller stopped reading
  // False: stop reading (done or cancelled). Throws ProviderError for an error event.
  bool on_data(const std::string& provider, const std::string& data, bool chat, const OnText& on_text);
};

}  // namespace ia::providers
