#pragma once
// Hugging Face text-embeddings-inference: /embed (a bare array of vectors, at
// most --max-client-batch-size inputs a call: the client batches), /rerank
// (scores sorted by relevance), /info and /health. No generation, no model list
// (/info names the one model served).
#include "providers/provider.h"

namespace ia::providers {

class TeiProvider : public Provider {
 public:
  explicit TeiProvider(ProviderConfig config) : Provider(std::move(config)) {}
  bool supports(Capability c) const override {
    return c == Capability::Embedding || c == Capability::Rerank || c == Capability::Models;
  }
  EmbedResult embed(const EmbedCall& call, const std::string& key) override;
  std::vector<RerankScore> rerank(const RerankCall& call, const std::string& key) override;
  std::vector<std::string> list_models(const std::string& key) override;  // /info's model_id
  void health(const std::string& key) override;

 protected:
  FailureClass classify(int status, const ErrorBody& body) const override;
};

}  // namespace ia::providers
