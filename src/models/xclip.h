#pragma once
// X-CLIP (XCLIPModel) on the shared layers and CLIP's towers: CLIP's text tower (pooled at the
// largest id, as XCLIPTextTransformer pools); the VisionTower with cross-frame messages over the
// frames of each video, its class tokens projected; the multi-frame integration transformer (MIT:
// learned frame positions, pre-norm bidirectional Blocks across frames, the residual, the mean
// over frames) giving the video embedding; and the prompts generator, which conditions each text
// on the video: the tower's patch features (prompts_visual_layernorm, prompts_visual_projection,
// averaged over frames) as keys and values of cross-attention layers whose queries are the texts,
// added back scaled by the learned `alpha`.
#include <memory>
#include <vector>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/clip_towers.h"
#include "models/layers/attention.h"
#include "models/layers/block.h"
#include "models/layers/linear.h"
#include "models/layers/mlp.h"
#include "models/layers/norm.h"
#include "models/video_text_model.h"
#include "models/vision_tower.h"

namespace ia {

class XClipModel final : public VideoTextModel {
 public:
  static std::unique_ptr<XClipModel> load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                          Device device);

  int64_t num_frames() const override { return frames_; }
  int64_t projection_dim() const override { return projection_dim_; }
  int64_t vocab_size() const override { return text_.vocab_size(); }
  int64_t max_text_tokens() const override { return text_.max_positions(); }
  float logit_scale() const override { return logit_scale_; }
  DType compute_dtype() const override { return compute_dtype_; }
  Device device() const override { return device_; }
  Tensor text_features(const StepInputs& step, const std::vector<std::span<const int32_t>>& ids) const override;
  VideoFeatures video_features(const Tensor& pixel_values) const override;
  Tensor video_text_features(const Tensor& text_features, const VideoFeatures& video) const override;

  const ClipTextTower& text() const { return text_; }

 private:
  XClipModel() = default;
  struct PromptLayer {
    Norm norm1, norm3;
    Attention cross_attention;
    Mlp mlp;
  };
  ClipTextTower text_;
  VisionTower vision_;
  Linear text_projection_, visual_projection_;
  Tensor mit_positions_;  // [frames, P]
  std::vector<Block> mit_blocks_;
  Norm prompts_visual_norm_;
  Linear prompts_visual_projection_;
  Norm prompt_context_norm_;
  std::vector<PromptLayer> prompt_layers_;
  Linear prompt_alpha_;  // diag(alpha): text + alpha * prompt in one GEMM with a residual
  int64_t frames_ = 0, projection_dim_ = 0;
  float logit_scale_ = 1;
  DType compute_dtype_ = DType::F32;
  Device device_;
};

}  // namespace ia
