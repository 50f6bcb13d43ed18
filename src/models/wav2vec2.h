#pragma once
// Wav2Vec2 with its CTC head (Wav2Vec2ForCTC), written on the shared layers: a convolutional
// feature encoder (conv1d + group norm on the first layer, or + layer norm on every layer, then
// the activation), the feature projection (LayerNorm + Linear), the weight-normed positional
// convolution (groups, kernel K, padding K/2, the last frame dropped for even K) + activation
// added to the projected features, post-norm Blocks after the encoder's LayerNorm (or, with
// do_stable_layer_norm, pre-norm Blocks and the LayerNorm after them), and the lm_head.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/ctc_model.h"
#include "models/layers/block.h"
#include "models/layers/linear.h"
#include "models/layers/norm.h"

namespace ia {

// The config.json properties the model needs. Corrupt (naming the file) for sizes that are not
// positive or do not fit together; Unsupported for adapters (add_adapter, adapter_attn_dim).
struct Wav2Vec2Config {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t intermediate_size = 0;
  std::string hidden_act = "gelu";
  std::string feat_extract_activation = "gelu";
  bool feat_extract_group_norm = true;  // feat_extract_norm "group"; false: "layer"
  std::vector<int64_t> conv_dim, conv_kernel, conv_stride;
  bool conv_bias = false;
  int64_t num_conv_pos_embeddings = 128;
  int64_t num_conv_pos_embedding_groups = 16;
  double layer_norm_eps = 1e-5;
  bool do_stable_layer_norm = false;

  static Wav2Vec2Config from(const HfConfig& cfg);
  // Frames from `samples` samples: each conv layer's (L - kernel) / stride + 1 in turn.
  int64_t output_frames(int64_t samples) const;
};

class Wav2Vec2ForCtc final : public CtcModel {
 public:
  // Loads the weights (checkpoints of Wav2Vec2ForCTC: the model under "wav2vec2.", lm_head at the
  // root), linear layers in `compute_dtype` (f32 or bf16; convolutions stay f32). The positional
  // convolution's weight is folded once from its weight norm, under either name torch gives it
  // (weight_g / weight_v, or parametrizations.weight.original0 / original1), or read as is
  // when the checkpoint stores it folded (conv.weight). NotFound naming the first missing tensor.
  static std::unique_ptr<Wav2Vec2ForCtc> load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                              Device device);

  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t hidden_size() const override { return config_.hidden_size; }
  int64_t output_frames(int64_t samples) const override { return config_.output_frames(samples); }
  int64_t min_input_samples() const override { return min_samples_; }
  int64_t samples_per_frame() const override { return samples_per_frame_; }
  DType compute_dtype() const override { return compute_dtype_; }
  Device device() const override { return device_; }
  CtcOutput forward(const std::vector<Tensor>& clips) const override;

  const Wav2Vec2Config& config() const { return config_; }

 private:
  Wav2Vec2ForCtc() = default;
  Tensor feature_encoder(const Tensor& samples) const;  // [n] -> [frames, conv_dim[-1]]

  struct ConvLayer {
    Tensor weight, bias;            // [Cout, Cin, K] f32; bias [Cout] or undefined
    Tensor norm_weight, norm_bias;  // group norm (layer 0 of "group") or layer norm: [Cout]
    Norm layer_norm;                // "layer": over the channels
    int64_t stride = 1;
  };
  Wav2Vec2Config config_;
  std::vector<ConvLayer> conv_;
  Activation feat_act_ = Activation::GeluErf;
  Norm projection_norm_;
  Linear projection_;
  Tensor pos_weight_, pos_bias_;  // [H, H / groups, K] f32, [H]
  Norm encoder_norm_;
  std::vector<Block> blocks_;
  Linear lm_head_;
  int64_t min_samples_ = 1, samples_per_frame_ = 1;
  DType compute_dtype_ = DType::F32;
  Device device_;
};

}  // namespace ia
