#pragma once
// An embedding endpoint: a text encoder placed on a device with its tokenizer
// and pooling. It validates texts, truncates (or refuses) long ones, groups
// texts into batches packed without padding, runs the encoder and pools.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "models/encoder.h"
#include "models/model_registry.h"
#include "tokenizers/tokenizer.h"

namespace ia {

struct EmbeddingOptions {
  std::optional<PoolMode> pooling;  // default: the folder's sentence-transformers config, else mean
  std::optional<bool> normalize;    // default: the folder's Normalize module
  int batch_size = 32;
  bool truncate = true;
};

struct EmbeddingResult {
  Tensor embeddings;  // [N, H] f32 on the host, in input order
  PoolMode pooling = PoolMode::Mean;
  bool normalized = false;
  std::vector<int> token_counts;
  std::vector<std::string> warnings;
  double tokenize_ms = 0;
  double inference_ms = 0;
};

// cls | mean | max | mean_sqrt_len | lasttoken; InvalidArgument for an unknown name, Unsupported for weightedmean.
PoolMode parse_pool_mode(const std::string& s);
// The mode itself; Unsupported for the modes this build cannot pool with (weightedmean).
PoolMode supported_pool_mode(PoolMode mode);

class EmbeddingEndpoint {
 public:
  static std::shared_ptr<EmbeddingEndpoint> load(const std::string& dir, Device device, DType dtype);

  EmbeddingResult embed(const std::vector<std::string>& texts, const EmbeddingOptions& options) const;

  const ModelKind& kind() const { return kind_; }
  const Encoder& encoder() const { return *encoder_; }
  const tok::Tokenizer& tokenizer() const { return *tokenizer_; }
  PoolMode default_pooling() const { return default_pooling_; }
  bool default_normalize() const { return default_normalize_; }
  const std::string& pooling_source() const { return pooling_source_; }
  Device device() const { return encoder_->device(); }

 private:
  EmbeddingEndpoint() = default;
  std::string dir_;
  ModelKind kind_;
  std::unique_ptr<Encoder> encoder_;
  std::shared_ptr<tok::Tokenizer> tokenizer_;
  PoolMode default_pooling_ = PoolMode::Mean;
  bool default_normalize_ = false;
  std::string pooling_source_;
};

}  // namespace ia
