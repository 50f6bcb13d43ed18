#pragma once
// CLAP's audio tower as transformers' ClapAudioEncoder runs it without fusion (HTSAT: a Swin
// transformer over the log-mel spectrogram laid out as an image):
//
//   input_features [B, 1, frames, mel]
//   -> bn0 over the mel bins (BatchNorm2d in eval, folded into a per-bin affine at load)
//   -> reshape_mel2img: bicubic (align_corners) in time up to spec_size * freq_ratio frames, then the
//      time axis cut into freq_ratio pieces stacked along frequency: a [spec_size, spec_size] image
//   -> patch embedding (kernel == stride: patches as rows times the kernel) and its LayerNorm
//   -> Swin stages: (shifted) window attention with the relative position bias table, the MLP,
//      patch merging between stages
//   -> final LayerNorm, the mean over every token (transformers' avgpool of the regrouped map is a
//      mean over all positions).
//
// The image preparation runs on the host (a few hundred KB per clip); the transformer on the device
// with the shared ops: window partition, cyclic shift, head split and patch merging are row gathers
// (ops::embedding with host-built index tables), window attention is batched matmul + add + softmax.
#include <cstdint>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/tensor.h"
#include "formats/hf_config.h"
#include "models/layers/linear.h"
#include "models/layers/norm.h"
#include "models/layers/weight_source.h"

namespace ia {

struct HtsatConfig {
  int64_t num_mel_bins = 64, spec_size = 256, patch_size = 4, patch_stride = 4, channels = 1;
  int64_t patch_hidden = 96, window = 8;
  std::vector<int64_t> depths = {2, 2, 6, 2}, heads = {4, 8, 16, 32};
  double mlp_ratio = 4.0;
  float eps = 1e-5f;
  bool qkv_bias = true;
  bool patch_norm = true;  // enable_patch_layer_norm
  Activation activation = Activation::GeluErf;

  int64_t freq_ratio() const { return spec_size / num_mel_bins; }
  int64_t spec_width() const { return spec_size * freq_ratio(); }         // frames the image takes
  int64_t spec_height() const { return spec_size / freq_ratio(); }        // mel bins the image takes
  int64_t grid() const { return spec_size / patch_stride; }               // patches per side
  int64_t hidden() const { return patch_hidden << (depths.size() - 1); }  // the last stage's width

  // ClapAudioConfig's keys (defaults as there); Unsupported for fusion checkpoints and shapes
  // transformers would not run, Corrupt past bounds.
  static HtsatConfig from(const HfConfig& audio_config);
};

class HtsatAudioEncoder {
 public:
  // Weights under the source's prefix ("audio_model.audio_encoder.").
  static HtsatAudioEncoder load(const WeightSource& w, const HtsatConfig& c);

  // input_features f32 [B, 1, frames, mel] (host or device) -> pooled [B, hidden()] f32 on the device.
  Tensor forward(const Tensor& input_features) const;
  // The host half: bn0, reshape_mel2img and the patch rows, [B * grid^2, channels * patch^2].
  Tensor patch_rows(const Tensor& input_features) const;

  const HtsatConfig& config() const { return config_; }

 private:
  struct SwinBlock {
    Norm norm_before, norm_after;
    Linear qkv, out, fc1, fc2;
    Tensor bias;  // f32 [windows * heads * T * T] on the device: relative position bias (+ shift mask)
    int64_t dim = 0, heads = 0, res = 0, window = 0, shift = 0;
  };
  struct Stage {
    std::vector<SwinBlock> blocks;
    Norm merge_norm;
    Linear merge_reduction;
    bool merges = false;
    int64_t dim = 0, res = 0;
  };

  Tensor block_forward(const SwinBlock& b, const Tensor& x, int64_t clips) const;

  HtsatConfig config_;
  Device device_;
  std::vector<float> bn_scale_, bn_shift_;
  Linear patch_;
  Norm patch_norm_, final_norm_;
  std::vector<Stage> stages_;
};

}  // namespace ia
