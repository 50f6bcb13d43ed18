#pragma once
// An embedding endpoint: a text encoder placed on a device with its tokenizer and
// the folder's sentence-transformers modules. It puts the prompt before each text,
// truncates (or refuses) long ones, groups texts into batches packed without
// padding, runs the encoder, pools, and runs the modules after pooling (Dense,
// Normalize: runtime/sentence_modules). The encoder is an Encoder of the registry
// or, for a sentence-transformers folder whose Transformer is a decoder
// (Qwen3-Embedding), the decoder's final hidden states (CausalLmEncoder).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "formats/hf_config.h"
#include "models/encoder.h"
#include "models/model_registry.h"
#include "runtime/sentence_modules.h"
#include "tokenizers/tokenizer.h"

namespace ia {

struct EmbeddingOptions {
  std::optional<PoolMode> pooling;  // default: the folder's sentence-transformers config, else mean
  std::optional<bool> normalize;    // default: the folder's Normalize module
  int batch_size = 32;
  bool truncate = true;
  // Tokens per text, special tokens included; default: sentence_bert_config.json's
  // max_seq_length, else the model's limit (which it may not exceed).
  std::optional<int64_t> max_length;
  // Put before each text (sentence-transformers' encode(prompt=… / prompt_name=…)): a prompt
  // of config_sentence_transformers.json by name, or the text itself; not both. Neither: the
  // folder's default_prompt_name, if it has one.
  std::optional<std::string> prompt_name;
  std::optional<std::string> prompt;
};

struct EmbeddingResult {
  Tensor embeddings;  // [N, D] f32 on the host, in input order (D: the last Dense's out_features, else hidden)
  PoolMode pooling = PoolMode::Mean;
  bool normalized = false;
  std::vector<int> token_counts;
  std::vector<int> truncated;  // indices of the texts cut to max_length
  int64_t max_length = 0;      // the limit the texts were held to
  std::vector<std::string> warnings;
  double tokenize_ms = 0;
  double inference_ms = 0;
};

// The token ids a call embeds: each text with the prompt before it, tokenized and truncated.
struct EncodedTexts {
  std::vector<tok::Encoding> encodings;  // in input order
  std::vector<int> truncated;            // indices of the texts cut to max_length
  int64_t max_length = 0;                // the limit the texts were held to
  int64_t prompt_tokens = 0;             // leading tokens left out of the pool (include_prompt false), else 0
};

// cls | mean | max | mean_sqrt_len | lasttoken; InvalidArgument for an unknown name, Unsupported for weightedmean.
PoolMode parse_pool_mode(const std::string& s);
// The mode itself; Unsupported for the modes this build cannot pool with (weightedmean).
PoolMode supported_pool_mode(PoolMode mode);

class EmbeddingEndpoint {
 public:
  // `quantization`: as Generator::load.
  static std::shared_ptr<EmbeddingEndpoint> load(const std::string& dir, Device device, DType dtype,
                                                 const WeightQuantization& quantization = {});

  EmbeddingResult embed(const std::vector<std::string>& texts, const EmbeddingOptions& options) const;
  // Token ids given as they are (no prompt, no special tokens added: the OpenAI API's
  // token-id inputs): InvalidArgument for an empty list, an id outside the vocabulary, or
  // one longer than the limit with truncation off (with it on, its first tokens are kept).
  EmbeddingResult embed_ids(const std::vector<std::vector<int32_t>>& ids, const EmbeddingOptions& options) const;
  // What embed() runs the model on: InvalidArgument for a text without tokens, a text over the
  // limit with truncation off, a bad max_length or prompt.
  EncodedTexts encode(const std::vector<std::string>& texts, const EmbeddingOptions& options) const;

  const ModelKind& kind() const { return kind_; }
  const Encoder& encoder() const { return *encoder_; }
  const tok::Tokenizer& tokenizer() const { return *tokenizer_; }
  PoolMode default_pooling() const { return default_pooling_; }
  bool default_normalize() const { return modules_.normalizes(std::nullopt); }
  const std::string& pooling_source() const { return pooling_source_; }
  Device device() const { return encoder_->device(); }
  // The default limit of tokens per text: max_seq_length, else the model's.
  int64_t max_length() const { return max_length_; }
  const SentenceModules& modules() const { return modules_; }
  // The folder's sentence-transformers configuration; nullopt when it has none.
  const std::optional<SentenceTransformerConfig>& sentence_transformer() const { return st_; }
  // The text put before each text for these options ("" for none); InvalidArgument for an
  // unknown prompt name (listing the folder's) or both a name and a text.
  std::string resolve_prompt(const EmbeddingOptions& options) const;

 private:
  EmbeddingEndpoint() = default;
  // What embed and embed_ids share once the inputs are tokens: batches, pooling, modules.
  EmbeddingResult embed_encoded(EncodedTexts enc, const EmbeddingOptions& options, double tokenize_ms) const;
  std::string dir_;
  ModelKind kind_;
  std::unique_ptr<Encoder> encoder_;
  std::shared_ptr<tok::Tokenizer> tokenizer_;
  std::optional<SentenceTransformerConfig> st_;
  SentenceModules modules_;
  PoolMode default_pooling_ = PoolMode::Mean;
  std::string pooling_source_;
  int64_t max_length_ = 0;
};

}  // namespace ia
