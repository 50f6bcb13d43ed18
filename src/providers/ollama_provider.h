#pragma once
// Ollama's native API: /api/chat and /api/generate streamed as NDJSON (one
// object a line, the last with "done": true; an {"error":…} line is a failure
// inside a 200 stream), /api/embed with input lists, /api/tags, and
// /api/version for health. (Its /v1 routes are OpenAI's: type "openai" with
// base_url http://host:11434/v1 reaches them.)
#include "providers/provider.h"

namespace ia::providers {

class OllamaProvider : public Provider {
 public:
  explicit OllamaProvider(ProviderConfig config) : Provider(std::move(config)) {}
  bool supports(Capability c) const override { return c != Capability::Rerank && c != Capability::Transcription; }
  TextResult chat(const ChatCall& call, const std::string& key, const OnText& on_text) override;
  TextResult complete(const CompletionCall& call, const std::string& key, const OnText& on_text) override;
  EmbedResult embed(const EmbedCall& call, const std::string& key) override;
  std::vector<std::string> list_models(const std::string& key) override;
  void health(const std::string& key) override;

 private:
  TextResult run(const std::string& path, nlohmann::json body, const std::string& key, const OnText& on_text,
                 bool chat);
};

// One NDJSON stream's state, fed each line.
struct OllamaStreamState {
  TextResult result;
  bool done = false, cancelled = false;
  bool on_line(const std::string& provider, std::string_view line, bool chat, const OnText& on_text);
};

}  // namespace ia::providers
