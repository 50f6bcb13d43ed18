#include "models/clip.h"

#include <cmath>

#include "core/error.h"
#include "ops/ops.h"

namespace ia {

namespace {

constexpr VisionTowerNames kClipVisionNames = {"embeddings.patch_embedding",
                                               false,
                                               "embeddings.class_embedding",
                                               "embeddings.position_embedding.weight",
                                               "pre_layrnorm",
                                               nullptr,
                                               "post_layernorm",
                                               kClipBlockNames};

}  // namespace

const VisionTowerNames& clip_vision_names() {
  return kClipVisionNames;
}

std::unique_ptr<ClipModel> ClipModel::load(const HfConfig& config, const WeightStore& weights, DType compute_dtype,
                                           Device device) {
  const HfConfig tc = clip_sub_config(config, "text_config");
  const HfConfig vc = clip_sub_config(config, "vision_config");
  auto m = std::unique_ptr<ClipModel>(new ClipModel());
  m->compute_dtype_ = compute_dtype;
  m->device_ = device;
  m->projection_dim_ = clip_config_int(config, "projection_dim", 512, kMaxConfigDimension);
  const VisionTowerConfig v = clip_vision_config(vc);

  WeightSource text(weights, "text_model.", compute_dtype, device);
  WeightSource vision(weights, "vision_model.", compute_dtype, device);
  WeightSource root(weights, "", compute_dtype, device);
  vision.require(VisionTower::tensor_names(v, kClipVisionNames), "CLIP's vision model");
  root.require({"text_projection.weight", "visual_projection.weight", "logit_scale"}, "CLIPModel");

  m->text_ = ClipTextTower::load(text, tc, TextPooling::FirstEosOrLegacyArgmax);
  m->vision_ = VisionTower::load(vision, v, kClipVisionNames);
  m->text_projection_ = Linear::load(root, "text_projection", m->projection_dim_, m->text_.hidden(), false);
  m->visual_projection_ = Linear::load(root, "visual_projection", m->projection_dim_, v.hidden, false);
  m->logit_scale_ = load_logit_scale(weights);
  return m;
}

Tensor ClipModel::text_features(const StepInputs& step, const std::vector<std::span<const int32_t>>& ids) const {
  return text_projection_(text_.pooled(step, ids));
}

Tensor ClipModel::image_features(const Tensor& pixel_values) const {
  return visual_projection_(vision_.forward(pixel_values).pooled);
}

}  // namespace ia
