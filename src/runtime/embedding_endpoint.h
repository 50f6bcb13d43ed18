#pragma once
// An embedding endpoint: a text encoder placed on a device with its tokenizer
// and pooling. It validates texts, truncates (or refuses) long ones, groups
// texts of similar length into padded batches, runs the encoder and pools.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "models/bert_encoder.h"
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

// A padded batch ready for the encoder: [B, S] i64 host tensors.
struct EncodedBatch {
  Tensor input_ids, attention_mask, token_type_ids;
};
EncodedBatch pad_batch(const std::vector<const tok::Encoding*>& encodings, int64_t pad_id);

PoolMode parse_pool_mode(const std::string& s);  // cls | mean | max | mean_sqrt_len; InvalidArgument otherwise
const char* pool_mode_name(PoolMode mode);

class EmbeddingEndpoint {
 public:
  static std::shared_ptr<EmbeddingEndpoint> load(const std::string& dir, Device device, DType dtype);

  EmbeddingResult embed(const std::vector<std::string>& texts, const EmbeddingOptions& options) const;

  const ModelKind& kind() const { return kind_; }
  const BertEncoder& encoder() const { return *encoder_; }
  const tok::Tokenizer& tokenizer() const { return *tokenizer_; }
  PoolMode default_pooling() const { return default_pooling_; }
  bool default_normalize() const { return default_normalize_; }
  const std::string& pooling_source() const { return pooling_source_; }
  Device device() const { return encoder_->device(); }

 private:
  EmbeddingEndpoint() = default;
  std::string dir_;
  ModelKind kind_;
  std::unique_ptr<BertEncoder> encoder_;
  std::shared_ptr<tok::Tokenizer> tokenizer_;
  PoolMode default_pooling_ = PoolMode::Mean;
  bool default_normalize_ = false;
  std::string pooling_source_;
  int64_t pad_id_ = 0;
};

}  // namespace ia
