#pragma once
// T5 (and mT5), written from the shared layers as an EncoderDecoder: one token table shared by
// both stacks; pre-norm blocks with T5's RMS norm (no mean, no bias); attention unscaled (scale
// 1) with the relative position bias of each stack's first layer added in every layer
// (bidirectional buckets in the encoder, unidirectional in the decoder); the decoder's
// cross-attention over a CrossKvCache; the feed-forward plain ReLU (v1.0, DenseReluDense.wi/wo)
// or gated (v1.1 / mT5: wi_0, wi_1 with gelu_new); the head tied to the table or lm_head.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/encoder_decoder.h"
#include "models/layers/mlp.h"

namespace ia {

struct T5Config {
  std::string model_type;  // "t5" or "mt5"
  int64_t vocab_size = 0, d_model = 0, d_kv = 0, d_ff = 0, num_heads = 0;
  int64_t num_layers = 0, num_decoder_layers = 0;
  int64_t relative_attention_num_buckets = 32, relative_attention_max_distance = 128;
  double layer_norm_epsilon = 1e-6;
  MlpKind mlp = MlpKind::Plain;  // feed_forward_proj "gated-X": Gated
  Activation act = Activation::Relu;
  // The decoder output times d_model^-0.5 before the head: config.json's scale_decoder_outputs
  // (transformers 5 saves it), else, for t5, its tie_word_embeddings (default true), as
  // transformers derives it; mT5 never scales unless scale_decoder_outputs says so.
  bool scale_decoder_outputs = true;
  bool tie_word_embeddings = true;  // as config.json says (the head follows the checkpoint: t5.cpp)
  int64_t decoder_start_token_id = 0;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;

  // Corrupt naming the key for a missing or inconsistent size; Unsupported for an unknown
  // feed_forward_proj activation.
  static T5Config from(const HfConfig& cfg);
};

class T5Model final : public EncoderDecoder {
 public:
  // Linear weights become `compute_dtype`; norms, the bias tables and activations stay f32.
  // NotFound naming a missing tensor before anything is allocated.
  static std::unique_ptr<T5Model> load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                       Device device);
  ~T5Model() override;

  const Encoder& encoder() const override;
  const CausalLM& decoder() const override;
  CrossKvCache make_cross_cache(const Tensor& encoder_hidden, std::vector<int64_t> starts) const override;
  int64_t decoder_start_token_id() const override { return cfg_.decoder_start_token_id; }
  const T5Config& config() const { return cfg_; }

 private:
  T5Model() = default;
  struct Parts;
  T5Config cfg_;
  std::unique_ptr<Parts> parts_;
};

}  // namespace ia
