#pragma once
// Whisper (WhisperForConditionalGeneration), written from the shared layers as an EncoderDecoder:
// the encoder is a convolutional stem (conv1: k3 pad 1, GELU; conv2: k3 stride 2 pad 1, GELU)
// over the log-mel frames, the stored sinusoidal positions added, pre-norm LayerNorm blocks and
// a final LayerNorm; the decoder is the token table plus learned positions, pre-norm causal
// blocks with a cross-attention over a CrossKvCache, a final LayerNorm and the head tied to the
// token table (proj_out). Key projections have no bias (AttentionSpec::k_bias).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/encoder_decoder.h"

namespace ia {

struct WhisperConfig {
  int64_t vocab_size = 0, num_mel_bins = 80, d_model = 0;
  int64_t encoder_layers = 0, decoder_layers = 0, encoder_attention_heads = 0, decoder_attention_heads = 0;
  int64_t encoder_ffn_dim = 0, decoder_ffn_dim = 0;
  int64_t max_source_positions = 1500, max_target_positions = 448;
  Activation act = Activation::GeluErf;  // activation_function
  int64_t decoder_start_token_id = 0;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id, bos_token_id;

  // The log-mel frames of one window: the stem halves them to max_source_positions.
  int64_t input_frames() const { return 2 * max_source_positions; }

  // Corrupt naming the key for a missing or inconsistent size; Unsupported for another model_type.
  static WhisperConfig from(const HfConfig& cfg);
};

class WhisperModel final : public EncoderDecoder {
 public:
  // Linear weights become `compute_dtype`; norms, convolutions, position tables and activations
  // stay f32. Checkpoints of WhisperForConditionalGeneration ("model." prefix, proj_out tied or
  // stored) and of the bare WhisperModel. NotFound naming a missing tensor before anything is
  // allocated.
  static std::unique_ptr<WhisperModel> load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                            Device device);
  ~WhisperModel() override;

  // The audio encoder. Its forward() takes log-mel frames, not tokens: step.input_embeddings
  // [S * input_frames(), num_mel_bins] f32 (each window's frames time-major, windows back to
  // back) and returns last_hidden_state [S * max_source_positions, d_model].
  const Encoder& encoder() const override;
  const CausalLM& decoder() const override;
  CrossKvCache make_cross_cache(const Tensor& encoder_hidden, std::vector<int64_t> starts) const override;
  int64_t decoder_start_token_id() const override { return cfg_.decoder_start_token_id; }
  const WhisperConfig& config() const { return cfg_; }

  // The encoder over feature windows as the feature extractor gives them: input_features
  // [S, num_mel_bins, input_frames()] or [num_mel_bins, input_frames()] f32 (host or device).
  // Returns [S * max_source_positions, d_model] f32 on the model's device. InvalidArgument for
  // another shape (transformers refuses windows of any other length too).
  Tensor encode(const Tensor& input_features) const;

 private:
  WhisperModel() = default;
  struct Parts;
  WhisperConfig cfg_;
  std::unique_ptr<Parts> parts_;
};

}  // namespace ia
