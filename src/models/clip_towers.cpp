#include "models/clip_towers.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/activation_names.h"
#include "ops/ops.h"

namespace ia {

int64_t clip_config_int(const HfConfig& c, const std::string& key, int64_t def, int64_t hi) {
  const int64_t v = c.get_int(key, def);
  if (v < 1 || v > hi) fail(ErrorKind::Corrupt, "{}: '{}' is {}, outside [1, {}]", c.path(), key, v, hi);
  return v;
}

HfConfig clip_sub_config(const HfConfig& c, const std::string& key) {
  if (auto s = c.sub(key)) return *s;
  return HfConfig::from_json(nlohmann::json::object(), c.path() + ":" + key);
}

VisionTowerConfig clip_vision_config(const HfConfig& vc) {
  VisionTowerConfig v;
  v.hidden = clip_config_int(vc, "hidden_size", 768, kMaxConfigDimension);
  v.layers = clip_config_int(vc, "num_hidden_layers", 12, kMaxConfigLayers);
  v.heads = clip_config_int(vc, "num_attention_heads", 12, kMaxConfigDimension);
  v.intermediate = clip_config_int(vc, "intermediate_size", 3072, kMaxConfigDimension);
  v.image_size = clip_config_int(vc, "image_size", 224, 1 << 16);
  v.patch = clip_config_int(vc, "patch_size", 32, 1 << 12);
  v.channels = clip_config_int(vc, "num_channels", 3, 64);
  v.eps = static_cast<float>(vc.get_float("layer_norm_eps", 1e-5));
  v.activation = parse_activation(vc.get_string("hidden_act", "quick_gelu"), vc.path());
  v.qkv_bias = true;
  if (v.hidden % v.heads != 0 || v.image_size < v.patch)
    fail(ErrorKind::Corrupt, "{}: hidden_size {} / heads {}, image_size {} / patch_size {}", vc.path(), v.hidden,
         v.heads, v.image_size, v.patch);
  return v;
}

float load_logit_scale(const WeightStore& weights) {
  Tensor scale = weights.get_as("logit_scale", DType::F32).contiguous();
  if (scale.numel() != 1) fail(ErrorKind::Corrupt, "{}: logit_scale has {} values", weights.dir(), scale.numel());
  const float s = std::exp(scale.data<float>()[0]);
  if (!std::isfinite(s))
    fail(ErrorKind::Corrupt, "{}: logit_scale {} overflows", weights.dir(), scale.data<float>()[0]);
  return s;
}

ClipTextTower ClipTextTower::load(const WeightSource& w, const HfConfig& tc, TextPooling pooling) {
  ClipTextTower t;
  t.pooling_ = pooling;
  t.device_ = w.device();
  t.bf16_ = w.compute_dtype() == DType::BF16;
  // CLIPTextConfig's defaults.
  const int64_t H = clip_config_int(tc, "hidden_size", 512, kMaxConfigDimension);
  const int64_t layers = clip_config_int(tc, "num_hidden_layers", 12, kMaxConfigLayers);
  const int64_t heads = clip_config_int(tc, "num_attention_heads", 8, kMaxConfigDimension);
  const int64_t inter = clip_config_int(tc, "intermediate_size", 2048, kMaxConfigDimension);
  t.vocab_ = clip_config_int(tc, "vocab_size", 49408, kMaxConfigVocabSize);
  t.max_positions_ = clip_config_int(tc, "max_position_embeddings", 77, kMaxConfigPositions);
  t.eos_token_id_ = tc.get_int("eos_token_id", 49407);
  t.hidden_ = H;
  if (H % heads != 0)
    fail(ErrorKind::Corrupt, "{}: hidden_size {} is not a multiple of num_attention_heads {}", tc.path(), H, heads);
  const NormSpec ln{NormKind::LayerNorm, true, static_cast<float>(tc.get_float("layer_norm_eps", 1e-5))};
  BlockSpec spec;
  spec.pre_norm = true;
  spec.norm = ln;
  spec.attention.hidden = H;
  spec.attention.heads = spec.attention.kv_heads = heads;
  spec.attention.head_dim = H / heads;
  spec.attention.mask = AttentionMask::Causal;
  spec.attention.positions = PositionKind::None;
  spec.attention.kv = KvSource::Step;
  spec.attention.qkv_bias = spec.attention.o_bias = true;
  spec.mlp =
      MlpSpec{MlpKind::Plain, parse_activation(tc.get_string("hidden_act", "quick_gelu"), tc.path()), H, inter, true};

  std::vector<std::string> needed = {"embeddings.token_embedding.weight", "embeddings.position_embedding.weight",
                                     "final_layer_norm.weight", "final_layer_norm.bias"};
  for (int64_t i = 0; i < layers; ++i)
    for (auto& n : Block::tensor_names(i, kClipBlockNames, spec)) needed.push_back(std::move(n));
  w.require(needed, "the text model");

  t.token_emb_ = w.table("embeddings.token_embedding.weight", {t.vocab_, H});
  t.pos_emb_ = w.vector("embeddings.position_embedding.weight", {t.max_positions_, H});
  for (int64_t i = 0; i < layers; ++i) t.blocks_.push_back(Block::load(w, i, kClipBlockNames, spec));
  t.final_norm_ = Norm::load(w, "final_layer_norm", H, ln);
  return t;
}

int64_t ClipTextTower::pooled_position(std::span<const int32_t> ids) const {
  int64_t best = 0;
  if (pooling_ == TextPooling::Argmax || eos_token_id_ == 2) {
    for (size_t i = 1; i < ids.size(); ++i)
      if (ids[i] > ids[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
    return best;
  }
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] == eos_token_id_) return static_cast<int64_t>(i);
  return 0;
}

Tensor ClipTextTower::pooled(const StepInputs& step, const std::vector<std::span<const int32_t>>& ids) const {
  const int64_t S = step.num_sequences;
  IA_CHECK(static_cast<int64_t>(ids.size()) == S, "clip text: {} id lists for {} sequences", ids.size(), S);
  if (step.max_seq_len > max_positions_)
    fail(ErrorKind::InvalidArgument, "input of {} tokens exceeds the model's limit of {} tokens", step.max_seq_len,
         max_positions_);
  Tensor x = ops::add(ops::embedding(token_emb_, step.token_ids), ops::embedding(pos_emb_, step.positions));
  BlockContext ctx;
  ctx.step = &step;
  ctx.bf16_products = bf16_;
  for (const Block& b : blocks_) x = b(x, ctx);
  x = final_norm_(x);
  std::vector<int64_t> rows(static_cast<size_t>(S));
  int64_t start = 0;
  for (int64_t s = 0; s < S; ++s) {
    rows[static_cast<size_t>(s)] = start + pooled_position(ids[static_cast<size_t>(s)]);
    start += static_cast<int64_t>(ids[static_cast<size_t>(s)].size());
  }
  IA_CHECK(start == step.num_tokens, "clip text: {} ids for a step of {} tokens", start, step.num_tokens);
  return ops::embedding(x, ops::to_device(Tensor::from_vector(rows, {S}), device_));
}

}  // namespace ia
