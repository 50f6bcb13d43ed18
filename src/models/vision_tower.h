#pragma once
// The vision transformer tower ViT and CLIP's vision model share, written once from the shared
// layers: patch embedding (a convolution whose stride is its kernel, i.e. each non-overlapping
// patch flattened and multiplied by the kernel as one GEMM), a class token, learned positions
// (bicubically interpolated, as transformers' interpolate_pos_encoding does, for an input whose
// patch grid differs from the checkpoint's), an optional LayerNorm before the blocks (CLIP's
// pre_layrnorm), pre-norm bidirectional Blocks over the images' tokens packed back to back, and
// a LayerNorm over every token (ViT's layernorm) or over the pooled class token (CLIP's
// post_layernorm). An architecture is a VisionTowerNames table and a VisionTowerConfig.
//
// With CrossFrameNames (X-CLIP's XCLIPVisionEncoderLayer, the paper's cross-frame communication)
// the images are the frames of videos, `frames` each, and before every block each frame's class
// token goes through message_fc, then message_ln and bidirectional attention across the frames of
// its video (with its residual); that message token joins its frame's tokens for the block and is
// dropped after it. transformers drops it between the block's attention and its MLP; the MLP and
// its norm act on each row alone, so running them over the message row as well changes no other
// row.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "backends/backend.h"
#include "core/tensor.h"
#include "models/layers/block.h"
#include "models/layers/linear.h"
#include "models/layers/norm.h"
#include "models/layers/weight_source.h"

namespace ia {

struct VisionTowerConfig {
  int64_t hidden = 0, layers = 0, heads = 0, intermediate = 0;
  int64_t patch = 0, image_size = 0, channels = 3;
  float eps = 1e-12f;
  Activation activation = Activation::GeluErf;
  bool qkv_bias = true;
  int64_t frames = 0;                                  // > 0 with CrossFrameNames: the frames of one video
  int64_t grid() const { return image_size / patch; }  // patches per side of the checkpoint's positions
};

// Checkpoint names relative to the tower's prefix ("vit.", "vision_model."); null where absent.
struct VisionTowerNames {
  const char* patch;  // the convolution: NAME.weight [hidden, C, p, p] (+ NAME.bias when `patch_bias`)
  bool patch_bias;
  const char* cls;         // the class token, [1, 1, hidden] or [hidden]
  const char* positions;   // [1, N + 1, hidden] or [N + 1, hidden]
  const char* pre_norm;    // before the blocks
  const char* final_norm;  // over every token after the blocks
  const char* post_norm;   // over the pooled class token
  BlockWeightNames block;
};

// X-CLIP's per-layer message names, relative to the block's layer prefix.
struct CrossFrameNames {
  const char* fc;                  // message_fc: hidden -> hidden, with bias
  const char* norm;                // message_ln
  AttentionWeightNames attention;  // message_attn (q, k, v, out with biases)
};

struct VisionTowerOutput {
  Tensor
      last_hidden_state;  // [B * T, hidden] f32 on the device, each image's T tokens back to back (class token first)
  Tensor encoder_output;  // the same before the final norm (transformers' hidden_states[-1]); = last_hidden_state
                          // without one
  Tensor pooled;          // [B, hidden]: each image's class token (after post_norm where the tower has one)
  int64_t tokens_per_image = 0;
};

// The StepInputs of `sequences` runs of `length` rows packed back to back, on `device`: an
// encoder step of equal lengths (images' tokens, the frames of videos).
StepInputs equal_length_step(int64_t sequences, int64_t length, Device device);

class VisionTower {
 public:
  VisionTower() = default;
  // Every checkpoint tensor load() reads, for a require() before anything is allocated.
  static std::vector<std::string> tensor_names(const VisionTowerConfig& c, const VisionTowerNames& n,
                                               const CrossFrameNames* cross_frame = nullptr);
  static VisionTower load(const WeightSource& w, const VisionTowerConfig& c, const VisionTowerNames& n,
                          const CrossFrameNames* cross_frame = nullptr);

  const VisionTowerConfig& config() const { return config_; }
  // pixel_values [B, C, H, W] f32 (host or device), H and W at least one patch; a remainder
  // smaller than a patch is left out, as the convolution leaves it. With cross-frame messages, B
  // is a whole number of videos of config().frames frames. InvalidArgument otherwise.
  VisionTowerOutput forward(const Tensor& pixel_values) const;
  // transformers' hidden_states[i] (output_hidden_states) for each of `indices`: 0 the embeddings
  // after the pre-norm, i the output of block i - 1, negative counted from the end (-1 the last
  // block's, before any final norm). Each [B * T, hidden] on the device, images back to back, the
  // class token first; only the blocks the deepest index needs run. InvalidArgument past the tower.
  std::vector<Tensor> hidden_states(const Tensor& pixel_values, const std::vector<int64_t>& indices) const;
  int64_t num_layers() const { return static_cast<int64_t>(blocks_.size()); }

  // The position table [1 + gh * gw, hidden] for a gh x gw patch grid, on the host: the
  // checkpoint's when the grid is its own, else its patch positions resized bicubically
  // (torch.nn.functional.interpolate, align_corners=False, A = -0.75, edges clamped) with the class
  // position kept. Exposed for tests.
  Tensor positions_for(int64_t gh, int64_t gw) const;

 private:
  VisionTowerConfig config_;
  Device device_;
  Linear patch_;       // [hidden, C * p * p], no bias: the bias rides in the table below
  Tensor patch_bias_;  // host [hidden] (zeros without one)
  Tensor cls_, pos_;   // host: [hidden], [N + 1, hidden]
  Tensor table_;       // device [N + 1, hidden]: row 0 cls + pos 0, row i bias + pos i
  Norm pre_norm_, final_norm_, post_norm_;
  std::vector<Block> blocks_;
  struct CrossFrameLayer {
    Linear fc;
    Norm norm;
    Attention attention;
  };
  std::vector<CrossFrameLayer> messages_;  // one per block, or none
  Tensor table_for(int64_t gh, int64_t gw) const;
  // The patch, class and position embeddings after the pre-norm, [images * tokens, hidden].
  Tensor embed(const Tensor& pixel_values, int64_t& images, int64_t& tokens) const;
};

}  // namespace ia
